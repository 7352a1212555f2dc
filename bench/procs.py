"""Processes of a benchmark run: receivers and the service, each a real subprocess."""

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


class Receiver:
    def __init__(self, mode: str = "fast", port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", "--mode", mode, "--port", str(port)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""  # "PORT n": the readiness signal
        if not line.startswith("PORT "):
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.port = int(line.split()[1])
        self.mode = mode

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{self.port}/reset", method="POST"), timeout=10).read()

    def wait_for(self, count: int, timeout: float, service: Service | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["count"] >= count:
                return stats
            if service is not None and service.proc.poll() not in (None, 0):
                raise RuntimeError(f"service exited with {service.proc.returncode}: {service.stderr_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver got {stats['count']} of {count} in {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Service:
    """``python -m core`` with a generated config, logs to a file."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.log_path = workdir / f"service-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core", "--log-format", "json", "--log-level", "warning", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        self.started = time.time()

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stderr_tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def finish(self, timeout: float = 600) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=timeout)
        self.log.close()
        lines = [ln for ln in (out or b"").decode().splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(60)
        self.log.close()


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
