"""Several dispatch processes over one SQLite store: 1 and 2 ``--role worker`` processes drain
a backlog that an ``--role engines`` replay wrote, and a model for 8 and 16.

The model: a dispatch process with a core of its own delivers ``1e6 / cpu_us`` per second
(``cpu_us``: its CPU per delivery, measured with one process); what they cannot do in
parallel is SQLite's one writer at a time (each delivery's share of a claim and an outcome
transaction, ``store_us``, measured here with nothing else running). So
``rate(n) = min(n * 1e6 / cpu_us, 1e6 / store_us)``, for a receiver that keeps up.
"""

from __future__ import annotations

import signal
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio

from bench.procs import Receiver, Service, exit_status, write_config
from bench.recordings import write_recording
from bench.scenarios import Workspace

PROCESS_COUNTS = (1, 2)
MODEL_COUNTS = (8, 16)
#: The endpoint's in-flight limit, shared by the processes.
CONCURRENCY = 32


def run(ws: Workspace, receiver: Receiver, events: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    recording = write_recording(ws.root / f"dispatch-{events}.jsonl", ws.engine, events)
    for count in PROCESS_COUNTS:
        work = ws.fresh(f"dispatch{count}")
        config = write_config(work / "hookwire.toml", work / "data", [{
            "url": receiver.url("dispatch"), "events": ["message.any"], "concurrency": CONCURRENCY}])
        engines = Service(work, ["--role", "engines", *ws.replay_args(config, recording)])
        measured, _ = engines.finish()
        if measured.returncode:
            raise RuntimeError(f"the engines process failed: {engines.stderr_tail()}")
        receiver.reset()
        cpu0 = receiver.stats()["cpu_seconds"]
        started = time.monotonic()
        workers = [Service(work, ["--config", str(config), "--role", "worker"]) for _ in range(count)]
        try:
            stats = receiver.wait_for(events, timeout=3600, service=workers[0])
            wall = time.monotonic() - started
        finally:
            for worker in workers:
                if exit_status(worker.proc) is None:
                    worker.proc.send_signal(signal.SIGTERM)
        finished = [worker.finish(timeout=120)[0] for worker in workers]
        integrity = quick_check(work / "data" / "deliveries.sqlite3")
        if integrity != "ok":
            raise RuntimeError(f"{count} dispatch processes: the store failed its check: {integrity}")
        cpu = sum(m.cpu for m in finished)
        stats = receiver.stats()
        results[str(count)] = {
            "processes": count, "per_s": stats["steady_per_s"], "wall_s": round(wall, 3),
            "cpu_us_per_delivery": cpu / events * 1e6, "duplicates": stats["count"] - stats["distinct"],
            "lost": events - stats["distinct"], "receiver_cpu_share": (stats["cpu_seconds"] - cpu0) / wall,
            "store_check": integrity,
        }
    one = results["1"]
    for row in results.values():
        row["scaling"] = row["per_s"] / one["per_s"]
    store_us = anyio.run(store_us_per_delivery, min(events, 20_000))
    process_rate = 1e6 / one["cpu_us_per_delivery"]
    model = {str(n): min(n * process_rate, 1e6 / store_us) for n in MODEL_COUNTS}
    return {"events": events, "concurrency": CONCURRENCY, "by_processes": results,
            "store_us_per_delivery": store_us, "process_per_s_with_a_core": process_rate, "model_per_s": model}


def quick_check(path: Path) -> str:
    """SQLite's ``quick_check`` of a store after its processes stopped: ``ok`` or the errors."""
    with closing(sqlite3.connect(path)) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA quick_check(5)"))


async def store_us_per_delivery(count: int) -> float:
    """Microseconds the store's write lock is held per delivery (a claim of 128 and their
    outcomes), nothing else running: the part of dispatch that does not run in parallel."""
    from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms
    from plugins.webhook.store import AttemptRecord, NewDelivery, StoredEvent

    with tempfile.TemporaryDirectory(prefix="hookwire-bench-store-") as tmp:
        store = SQLiteDeliveryStore(Path(tmp) / "deliveries.sqlite3")
        await store.open()
        try:
            body = b"x" * 1800
            for start in range(0, count, 512):
                events = [StoredEvent(f"evt_{n:08d}", "message.any", "bench", n, body)
                          for n in range(start, min(count, start + 512))]
                await store.add(events, [NewDelivery(f"dlv_{e.id}", e.id, "ep", "http://127.0.0.1:9/", "c", 0)
                                         for e in events])
            spent = 0.0
            while True:
                began = time.perf_counter()
                claimed = await store.claim_due("ep", now_ms(), 128, False)
                if not claimed:
                    break
                await store.record([AttemptRecord(d.id, 1, now_ms(), 1.0, 200, None, "ok", "delivered", None)
                                    for d in claimed])
                spent += time.perf_counter() - began
        finally:
            await store.close()
    return spent / count * 1e6


def row(result: dict[str, Any]) -> tuple[str, str, str, str, str]:
    by = result["by_processes"]
    measured = ", ".join(f"{n} process{'es' if n != '1' else ''}: {r['per_s']:.0f}/s (×{r['scaling']:.2f})"
                         for n, r in by.items())
    model = ", ".join(f"{n}: {rate:,.0f}/s" for n, rate in result["model_per_s"].items())
    return ("10", f"several dispatch processes over one SQLite store, a backlog of {result['events']}",
            f"{measured}; model (a core each): {model}", "scales with cores", "")
