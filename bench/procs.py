"""Processes of a benchmark run: receivers, senders and the service, each a real subprocess.

Every process is remembered until it has been waited for; :func:`kill_all` (run on the way out
of ``python -m bench``, however it ends) kills what is left, so a failed run leaves no process
behind. They stay in the harness's process group: killing that group (what the smoke test
does when it gives up) ends them all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_live: set[subprocess.Popen[Any]] = set()


def start(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    proc = subprocess.Popen(cmd, **kwargs)
    _live.add(proc)
    return proc


def kill_all() -> None:
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        _live.discard(proc)


class Measured:
    """A finished process: its exit status, wall seconds, CPU seconds (user + system, its own
    and its waited-for children's) and peak RSS."""

    def __init__(self, proc: subprocess.Popen[Any], started: float) -> None:
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except ChildProcessError:  # reaped elsewhere: no usage figures
            self.cpu, self.peak_rss_mb = float("nan"), float("nan")
        else:
            proc.returncode = os.waitstatus_to_exitcode(status)
            self.cpu = usage.ru_utime + usage.ru_stime
            self.peak_rss_mb = round(usage.ru_maxrss / 1024, 1)
        _live.discard(proc)
        self.returncode = proc.returncode
        self.wall = time.monotonic() - started


def run_measured(cmd: list[str], timeout: float = 3600, **kwargs: Any) -> Measured:
    """Run ``cmd`` to its end; :class:`Measured` of it (killed past ``timeout``)."""
    started = time.monotonic()
    proc = start(cmd, **kwargs)
    try:
        proc_wait(proc, timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return Measured(proc, started)


def exit_status(proc: subprocess.Popen[Any]) -> int | None:
    """``proc``'s exit status once it has ended, else ``None``; it is not reaped (``os.wait4``
    does that, with its resource usage), so unlike ``poll()`` this loses no figure."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        waited = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll()
    if waited is None:
        return None
    return waited.si_status if waited.si_code == os.CLD_EXITED else -waited.si_status


def proc_wait(proc: subprocess.Popen[Any], timeout: float) -> None:
    """Wait for ``proc`` to end without reaping it."""
    deadline = time.monotonic() + timeout
    while exit_status(proc) is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.02)


class Receiver:
    def __init__(self, mode: str = "fast", port: int = 0) -> None:
        self.proc = start([sys.executable, "-m", "bench.receiver", "--mode", mode, "--port", str(port)],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""  # "PORT n": the readiness signal
        if not line.startswith("PORT "):
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.port = int(line.split()[1])
        self.mode = mode

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=30) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{self.port}/reset", method="POST"), timeout=30).read()

    def wait_for(self, count: int, timeout: float, service: Service | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["count"] >= count:
                return stats
            if service is not None and exit_status(service.proc) not in (None, 0):
                raise RuntimeError(f"service exited with {exit_status(service.proc)}: {service.stderr_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver got {stats['count']} of {count} in {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        _live.discard(self.proc)


class Service:
    """``python -m core`` with a generated config, at its default log level; its log lines
    (JSON, as on any non-terminal) go to a file, its stdout (``replay``'s summary) to another."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str] | None = None,
                 python: list[str] | None = None) -> None:
        stamp = time.monotonic_ns()
        self.log_path = workdir / f"service-{stamp}.log"
        self.out_path = workdir / f"service-{stamp}.out"
        self.log = self.log_path.open("wb")
        self.out = self.out_path.open("wb")
        self.started = time.monotonic()
        self.proc = start([*(python or [sys.executable]), "-m", "core", *args], cwd=ROOT,
                          stdout=self.out, stderr=self.log,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stderr_tail(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def log_lines(self) -> int:
        if not self.log.closed:
            self.log.flush()
        with self.log_path.open("rb") as fh:
            return sum(1 for _ in fh)

    def finish(self, timeout: float = 3600) -> tuple[Measured, dict[str, Any]]:
        """Wait for the end: how it ran, and the JSON summary it printed (``replay``)."""
        try:
            proc_wait(self.proc, timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        measured = Measured(self.proc, self.started)
        self.log.close()
        self.out.close()
        lines = [ln for ln in self.out_path.read_text(errors="replace").splitlines() if ln.startswith("{")]
        return measured, (json.loads(lines[-1]) if lines else {})

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(120)
        _live.discard(self.proc)
        self.log.close()
        self.out.close()

    def __del__(self) -> None:
        for fh in (getattr(self, "log", None), getattr(self, "out", None)):
            if fh is not None:
                fh.close()


def write_config(path: Path, data_dir: Path, webhooks: list[dict[str, Any]], extra: str = "") -> Path:
    lines = [f'[kernel]\ndata_dir = "{data_dir}"\nexit_when_done = true\n', extra]
    for hook in webhooks:
        lines.append("[[webhooks]]")
        for key, value in hook.items():
            lines.append(f"{key} = {json.dumps(value) if not isinstance(value, dict) else _inline(value)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _inline(table: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"
