"""The service's scenarios of issue [perf]; each returns a dict of figures.

The service always runs as a user runs it: ``python -m core replay`` of a recording (or
``run`` / ``--role worker`` for a store filled beforehand), at its default log level, its
figure the wall time of the whole command, with the steady-state rate the receiver saw.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Receiver, Service, exit_status, write_config
from bench.recordings import ME, write_recording

#: The filters of the fan-out endpoints: every one matches the recording's messages.
FANOUT_FILTERS = [["message.any"], ["*"], ["message", "message.any"], ["message.any", "session.status"]]


class Workspace:
    def __init__(self, root: Path, events: int, engine: str = "WEBJS") -> None:
        self.root = root
        self.events = events
        self.engine = engine
        self.recording = write_recording(root / f"{engine.lower()}-{events}.jsonl", engine, events)
        self._n = 0

    def fresh(self, name: str) -> Path:
        self._n += 1
        path = self.root / f"{self._n:02d}-{name}"
        path.mkdir()
        return path

    def replay_args(self, config: Path, recording: Path | None = None, *more: str) -> list[str]:
        return ["--config", str(config), "replay", str(recording or self.recording), "--engine", self.engine,
                "--me", ME, *more]


def envelopes_of(recording: Path, out: Path, engine: str = "WEBJS") -> Path:
    """The envelopes the service sends for ``recording`` (``python -m core translate``), one
    per line: the bodies of the baselines."""
    with out.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "core", "--log-level", "error", "translate",
                                 "--engine", engine, "--me", ME, str(recording)], cwd=ROOT, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        for line in proc.stdout:
            for envelope in json.loads(line)["envelopes"]:
                if envelope["event"] == "message.any":
                    fh.write(json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        if proc.wait():
            raise RuntimeError("translate failed")
    return out


def full_path(ws: Workspace, receiver: Receiver, *, endpoints: int = 1, events: int | None = None,
              blackhole: Receiver | None = None, python: list[str] | None = None,
              label: str = "full") -> dict[str, Any]:
    """Scenarios full path (1 endpoint), fan-out (4, each ``events`` = a quarter) and
    isolation (+ a black-holed endpoint): a replay at full speed through the whole service."""
    work = ws.fresh(label)
    recording = ws.recording if events is None else write_recording(work / "rec.jsonl", ws.engine, events)
    count = ws.events if events is None else events
    hooks: list[dict[str, Any]] = [{"url": receiver.url(f"e{i}"), "events": FANOUT_FILTERS[i % 4]}
                                   for i in range(endpoints)]
    if blackhole is not None:
        hooks.append({"url": blackhole.url("void"), "events": ["*"], "timeout_seconds": 60})
    config = write_config(work / "hookwire.toml", work / "data", hooks)
    receiver.reset()
    cpu0 = receiver.stats()["cpu_seconds"]
    expected = count * endpoints
    service = Service(work, ws.replay_args(config, recording), python=python)
    if blackhole is None:
        measured, summary = service.finish()
        if measured.returncode:
            raise RuntimeError(f"the replay failed ({measured.returncode}): {service.stderr_tail()}")
        stats = receiver.stats()
        webhook = summary.get("webhook", {})
        # Filters that take ``*`` or session.status also get the session's status events.
        expected = max(expected, webhook.get("deliveries", 0))
        if stats["count"] < expected or webhook.get("delivered") != expected:
            raise RuntimeError(f"{label}: {stats['count']} of {expected} delivered ({summary})")
        wall, cpu, rss = measured.wall, measured.cpu, measured.peak_rss_mb
    else:
        stats = receiver.wait_for(expected, timeout=3600, service=service)
        wall, cpu, rss = time.monotonic() - service.started, None, service.peak_rss_mb()
        service.kill()
    return {"deliveries": expected, "endpoints": endpoints, "per_s": expected / wall, "wall_s": round(wall, 3),
            "steady_per_s": stats["steady_per_s"], "peak_rss_mb": rss,
            "cpu_us_per_delivery": None if cpu is None else cpu / expected * 1e6,
            "receiver_cpu_share": (stats["cpu_seconds"] - cpu0) / wall, "log_lines": service.log_lines()}


def split_path(ws: Workspace, receiver: Receiver, workers: int = 1) -> dict[str, Any]:
    """The full path in two kinds of process on one host, the roles sharing one SQLite file:
    ``--role engines replay`` (translation and intake) and ``workers`` × ``--role worker``
    (dispatch), started together; the figure is the wall time until every delivery arrived."""
    work = ws.fresh(f"split{workers}")
    config = write_config(work / "hookwire.toml", work / "data", [{"url": receiver.url("split"),
                                                                   "events": ["message.any"]}])
    receiver.reset()
    cpu0 = receiver.stats()["cpu_seconds"]
    started = time.monotonic()
    dispatchers = [Service(work, ["--config", str(config), "--role", "worker"]) for _ in range(workers)]
    engines = Service(work, ["--role", "engines", *ws.replay_args(config)])
    try:
        stats = receiver.wait_for(ws.events, timeout=3600, service=engines)
        wall = time.monotonic() - started
    finally:
        for proc in dispatchers:
            if exit_status(proc.proc) is None:
                proc.proc.send_signal(signal.SIGTERM)
    runs = [engines.finish()[0], *(proc.finish(timeout=120)[0] for proc in dispatchers)]
    return {"deliveries": ws.events, "processes": 1 + workers, "per_s": ws.events / wall, "wall_s": round(wall, 3),
            "steady_per_s": stats["steady_per_s"], "peak_rss_mb": max(r.peak_rss_mb for r in runs),
            "cpu_us_per_delivery": sum(r.cpu for r in runs) / ws.events * 1e6,
            "receiver_cpu_share": (receiver.stats()["cpu_seconds"] - cpu0) / wall,
            "log_lines": engines.log_lines() + sum(proc.log_lines() for proc in dispatchers)}


def latency(ws: Workspace, receiver: Receiver, rate: int, seconds: float) -> dict[str, Any]:
    """A steady ``rate`` events/s (``--pace recorded``): envelope made → receiver's handler."""
    work = ws.fresh("latency")
    count = int(rate * seconds)
    recording = write_recording(work / "paced.jsonl", ws.engine, count, spacing_ms=1000 / rate)
    config = write_config(work / "hookwire.toml", work / "data",
                          [{"url": receiver.url("lat"), "events": ["message.any"]}])
    receiver.reset()
    service = Service(work, ws.replay_args(config, recording, "--pace", "recorded"))
    stats = receiver.wait_for(count, timeout=seconds * 5 + 120, service=service)
    service.finish()
    return {"rate": rate, "events": count, "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"]}


def backlog_and_restart(ws: Workspace, events: int, baseline_rate: float) -> dict[str, Any]:
    """The receiver is down while ``events`` arrive (peak RSS meanwhile); then it comes up and
    the backlog drains; mid-drain the service is killed (-9) and started again: lost
    deliveries, duplicates, and how long until it delivers again."""
    work = ws.fresh("backlog")
    recording = write_recording(work / "backlog.jsonl", ws.engine, events)
    down_port = _free_port()
    url = f"http://127.0.0.1:{down_port}/backlog"
    config = write_config(work / "hookwire.toml", work / "data", [{
        "url": url, "events": ["message.any"], "retries": {"delay_seconds": 0.5, "attempts": 1000},
        "circuit_breaker": {"failures": 5, "probe_seconds": 0.5}}])
    service = Service(work, ws.replay_args(config, recording))
    store = work / "data" / "deliveries.sqlite3"
    started = time.monotonic()
    _wait_stored(store, events, service)
    stored_s = time.monotonic() - started
    rss_outage = service.peak_rss_mb()
    receiver = Receiver("fast", down_port)
    try:
        half = receiver.wait_for(events // 2, timeout=3600, service=service)
        drain_rate = half["steady_per_s"] or float("nan")
        service.kill(signal.SIGKILL)
        before_kill = receiver.stats()["distinct"]
        restart_at = time.monotonic()
        worker_config = write_config(work / "worker.toml", work / "data", [{"url": url, "events": ["message.any"]}])
        restarted = Service(work, ["--config", str(worker_config), "run"])
        # Resumed = the first new delivery after the restart. When the kill came after the last
        # delivery (tiny smoke sizes) there is nothing to resume: measured as None.
        resume_seconds: float | None = None
        deadline = restart_at + 120
        while before_kill < events and time.monotonic() < deadline:
            if receiver.stats()["distinct"] > before_kill:
                resume_seconds = time.monotonic() - restart_at
                break
            time.sleep(0.01)
        receiver.wait_for(events, timeout=3600, service=restarted)
        deadline = time.monotonic() + 120
        while receiver.stats()["distinct"] < events and time.monotonic() < deadline:
            time.sleep(0.1)
        final = receiver.stats()
        restarted.finish(timeout=600)
    finally:
        receiver.close()
    return {"events": events, "peak_rss_mb_outage": round(rss_outage, 1), "stored_per_s": events / stored_s,
            "store_mb": round(store.stat().st_size / 2**20, 1),
            "drain_per_s": drain_rate, "drain_ratio": drain_rate / baseline_rate,
            "lost": events - final["distinct"], "duplicates": final["count"] - final["distinct"],
            "resume_seconds": None if resume_seconds is None else round(resume_seconds, 3)}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_stored(store: Path, events: int, service: Service) -> None:
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        if exit_status(service.proc) is not None:
            raise RuntimeError(f"service exited early: {service.stderr_tail()}")
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=5) as conn:  # seq numbers the rows written
                    if (conn.execute("SELECT MAX(seq) FROM deliveries").fetchone()[0] or 0) >= events:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    raise TimeoutError("the backlog never reached the store")
