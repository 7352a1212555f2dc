"""The benchmark scenarios of issue [bench]; each returns a dict of figures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Receiver, Service, write_config
from bench.recordings import write_recording

CONCURRENCY = 8


class Workspace:
    def __init__(self, root: Path, events: int) -> None:
        self.root = root
        self.events = events
        self.recording = write_recording(root / "webjs.jsonl", "WEBJS", events)
        self._n = 0

    def fresh(self, name: str) -> Path:
        self._n += 1
        path = self.root / f"{self._n:02d}-{name}"
        path.mkdir()
        return path


def envelopes_of(recording: Path, out: Path) -> Path:
    """The envelopes the service would send (``python -m core translate``), one per line."""
    proc = subprocess.run([sys.executable, "-m", "core", "--log-level", "error", "translate",
                           "--engine", "WEBJS", "--me", "11111111111@c.us", str(recording)],
                          cwd=ROOT, capture_output=True, check=True)
    with out.open("wb") as fh:
        for line in proc.stdout.splitlines():
            for envelope in json.loads(line)["envelopes"]:
                if envelope["event"] == "message.any":
                    fh.write(json.dumps(envelope, separators=(",", ":")).encode() + b"\n")
    return out


def _rate(stats: dict[str, Any]) -> float:
    span = stats["last"] - stats["first"]
    return (stats["count"] - 1) / span if span > 0 else float("nan")


def baseline(ws: Workspace, receiver: Receiver, bodies: Path) -> dict[str, Any]:
    receiver.reset()
    cpu0 = receiver.stats()["cpu_seconds"]
    started = time.time()
    subprocess.run([sys.executable, "-m", "bench.baseline", str(bodies), receiver.url(), str(CONCURRENCY)],
                   cwd=ROOT, check=True)
    stats = receiver.stats()
    wall = time.time() - started
    return {"deliveries_per_s": _rate(stats), "count": stats["count"],
            "receiver_cpu_share": (stats["cpu_seconds"] - cpu0) / wall}


def full_path(ws: Workspace, receiver: Receiver, endpoints: int = 1,
              blackhole: Receiver | None = None) -> dict[str, Any]:
    """Scenarios 2, 3 and 5: replay at max speed through the whole service."""
    work = ws.fresh(f"full{endpoints}{'-bh' if blackhole else ''}")
    filters = [["message.any"], ["*"], ["message", "message.any"], ["message.any", "session.status"]]
    hooks = [{"url": receiver.url(f"e{i}"), "events": filters[i % 4], "concurrency": CONCURRENCY}
             for i in range(endpoints)]
    if blackhole is not None:
        hooks.append({"url": blackhole.url("void"), "events": ["*"], "concurrency": CONCURRENCY,
                      "timeout_seconds": 60})
    config = write_config(work / "hookwire.toml", work / "data", hooks)
    receiver.reset()
    expected = ws.events * endpoints
    service = Service(work, ["--config", str(config), "replay", str(ws.recording), "--engine", "WEBJS",
                             "--me", "11111111111@c.us"])
    try:
        stats = receiver.wait_for(expected, timeout=600, service=service)
    finally:
        service.kill(signal.SIGKILL if blackhole else signal.SIGTERM)
    return {"deliveries_per_s": _rate(stats), "count": stats["count"], "endpoints": endpoints}


def latency(ws: Workspace, receiver: Receiver, rate: int, seconds: float) -> dict[str, Any]:
    """Scenario 4: a steady ``rate`` events/s (``--pace recorded``); emit → receiver handler."""
    work = ws.fresh("latency")
    count = int(rate * seconds)
    recording = write_recording(work / "paced.jsonl", "WEBJS", count, spacing_ms=1000 / rate)
    config = write_config(work / "hookwire.toml", work / "data",
                          [{"url": receiver.url("lat"), "events": ["message.any"], "concurrency": CONCURRENCY}])
    receiver.reset()
    service = Service(work, ["--config", str(config), "replay", str(recording), "--engine", "WEBJS",
                             "--pace", "recorded", "--me", "11111111111@c.us"])
    stats = receiver.wait_for(count, timeout=seconds * 5 + 60, service=service)
    service.finish()
    return {"rate": rate, "events": count, "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"]}


def backlog_and_restart(ws: Workspace, events: int, baseline_rate: float) -> dict[str, Any]:
    """Scenarios 6 and 7: the receiver is down while ``events`` arrive; peak RSS; then it comes
    up and drains; mid-drain the service is killed (-9) and restarted: lost events, resume time."""
    work = ws.fresh("backlog")
    recording = write_recording(work / "backlog.jsonl", "WEBJS", events)
    down_port = _free_port()
    config = write_config(work / "hookwire.toml", work / "data", [{
        "url": f"http://127.0.0.1:{down_port}/backlog", "events": ["message.any"],
        "concurrency": CONCURRENCY, "retries": {"delay_seconds": 0.5, "attempts": 1000},
        "circuit_breaker": {"failures": 5, "probe_seconds": 0.5}}])
    service = Service(work, ["--config", str(config), "replay", str(recording), "--engine", "WEBJS",
                             "--me", "11111111111@c.us"])
    store = work / "data" / "deliveries.sqlite3"
    _wait_stored(store, events, service)
    rss_outage = service.peak_rss_mb()
    receiver = Receiver("fast", down_port)
    try:
        half = receiver.wait_for(events // 2, timeout=600, service=service)
        drain_rate = _rate(half)
        service.kill(signal.SIGKILL)
        before_kill = receiver.stats()["distinct"]
        restart_at = time.time()
        worker_config = write_config(work / "worker.toml", work / "data", [{
            "url": f"http://127.0.0.1:{down_port}/backlog", "events": ["message.any"],
            "concurrency": CONCURRENCY}])
        restarted = Service(work, ["--config", str(worker_config), "run"])
        # Resumed = the first delivery after the restart. When the kill came after the last
        # delivery (tiny smoke sizes) there is nothing to resume: measured as None.
        resume_seconds: float | None = None
        deadline = restart_at + 60
        while before_kill < events and time.time() < deadline:
            if receiver.stats()["distinct"] > before_kill:
                resume_seconds = time.time() - restart_at
                break
            time.sleep(0.01)
        final = receiver.wait_for(events, timeout=600, service=restarted)
        deadline = time.time() + 60
        while receiver.stats()["distinct"] < events and time.time() < deadline:
            time.sleep(0.1)
        final = receiver.stats()
        restarted.finish(timeout=120)
    finally:
        receiver.close()
    return {"events": events, "peak_rss_mb_outage": round(rss_outage, 1),
            "drain_per_s": drain_rate, "drain_ratio": drain_rate / baseline_rate,
            "lost": events - final["distinct"], "duplicates": final["count"] - final["distinct"],
            "resume_seconds": None if resume_seconds is None else round(resume_seconds, 3)}


def translation(events: int) -> dict[str, Any]:
    """Scenario 8: the engines' translators alone, records/s (in this process)."""
    import tempfile

    from core.app import App
    from core.config import DEFAULT_CONFIG_PATH

    app = App.load()
    app.load_config(DEFAULT_CONFIG_PATH, environ={})  # engines register once a config is read
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("WEBJS", "NOWEB"):
            path = write_recording(Path(tmp) / f"{engine}.jsonl", engine, events)
            lines = path.read_bytes().splitlines()
            translator = app.registry.engines[engine].create_translator("bench", "11111111111@c.us", None)
            started = time.perf_counter()
            for number, line in enumerate(lines, 1):
                translator.translate_line(line, str(number))
            results[engine] = events / (time.perf_counter() - started)
            assert translator.bad_records == 0, f"{engine}: generated records are bad"
    return results


def translate_cli(root: Path, events: int) -> dict[str, Any]:
    """``python -m core translate`` as a user runs it, on a recording of ``events`` records and
    on one ten times smaller: records/s and peak RSS (the same RSS at both sizes = streaming)."""
    results: dict[str, Any] = {}
    for engine in ("WEBJS", "NOWEB"):
        for count in (max(1, events // 10), events):
            path = write_recording(root / f"translate-{engine}-{count}.jsonl", engine, count)
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "core", "--log-level", "error", "translate",
                                     "--engine", engine, "--me", "11111111111@c.us", str(path)],
                                    cwd=ROOT, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode:
                raise RuntimeError(f"translate failed for {engine}")
            results[f"{engine}_{count}"] = {
                "records_per_s": count / (time.perf_counter() - started),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "file_mb": round(path.stat().st_size / 2**20, 1),
            }
            path.unlink()
    return results


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_stored(store: Path, events: int, service: Service) -> None:
    import sqlite3

    deadline = time.time() + 600
    while time.time() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"service exited early: {service.stderr_tail()}")
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=5) as conn:
                    if conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] >= events:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    raise TimeoutError("the backlog never reached the store")
