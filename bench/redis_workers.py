"""Scenario 9 (``python -m bench --redis``): 1 vs 2 vs 4 delivery worker processes, one Redis.

For each worker count: an ``engines`` process (``--role engines``) writes a backlog of
``events`` deliveries to Redis, then that many ``worker`` processes (``--role worker``) start
together and drain it into the fast receiver. The rate is taken between 10 % and 90 % of the
backlog delivered, so process start-up does not count. The endpoint's ``concurrency`` (its
in-flight limit, shared by the workers) is high enough not to be the bottleneck.

Runs on its own as well: ``python -m bench.redis_workers [--events N] [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import Receiver, Service, exit_status, write_config
from bench.recordings import write_recording

WORKER_COUNTS = (1, 2, 4)
#: The endpoint's in-flight limit across all workers.
CONCURRENCY = 32


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, no persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the Redis scenario needs redis-server (apt-get install redis-server)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", tempfile.gettempdir()],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # readiness: the server says so
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start")
        self.proc.stdout.close()  # it logs nothing more at this level; a closed pipe is ignored

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def _window_rate(receiver: Receiver, total: int, services: list[Service], timeout: float = 600) -> dict[str, Any]:
    """Deliveries/s between 10 % and 90 % of ``total`` delivered (polled every 20 ms)."""
    low, high = max(1, total // 10), max(2, total * 9 // 10)
    start: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout
    while True:
        count = receiver.stats()["count"]
        now = time.monotonic()
        if start is None and count >= low:
            start = (now, count)
        if start is not None and count >= high and now > start[0]:
            return {"deliveries_per_s": (count - start[1]) / (now - start[0]), "count": count}
        for service in services:
            if exit_status(service.proc) is not None:
                raise RuntimeError(f"a worker exited with {exit_status(service.proc)}: {service.stderr_tail()}")
        if now > deadline:
            raise TimeoutError(f"the receiver got {count} of {total}")
        time.sleep(0.02)


def run(root: Path, recording: Path, events: int, receiver: Receiver,
        counts: tuple[int, ...] = WORKER_COUNTS) -> dict[str, Any]:
    """Every worker count in turn, each on a fresh key prefix of one Redis."""
    redis = RedisServer()
    results: dict[str, Any] = {}
    try:
        for workers in counts:
            work = root / f"redis-{workers}-workers"
            work.mkdir()
            delivery = (f'[delivery]\nbackend = "redis"\nredis_url = "{redis.url}"\n'
                        f'redis_prefix = "bench{workers}"\n')
            config = write_config(work / "hookwire.toml", work / "data", [
                {"url": receiver.url(f"redis{workers}"), "events": ["message.any"], "concurrency": CONCURRENCY}],
                extra=delivery)
            engines = Service(work, ["--config", str(config), "--role", "engines", "replay", str(recording),
                                     "--engine", "WEBJS", "--me", "11111111111@c.us"])
            finished, written = engines.finish()
            if finished.returncode != 0:
                raise RuntimeError(f"the engines process failed: {engines.stderr_tail()}")
            receiver.reset()
            started = [Service(work, ["--config", str(config), "--role", "worker"]) for _ in range(workers)]
            try:
                measured = _window_rate(receiver, events, started)
                receiver.wait_for(events, timeout=600)
            finally:
                for service in started:
                    service.kill(signal.SIGTERM)
            results[str(workers)] = {**measured, "workers": workers, "backlog": written.get("webhook", {})}
    finally:
        redis.close()
    one = results[str(counts[0])]["deliveries_per_s"]
    for row in results.values():
        row["scaling"] = row["deliveries_per_s"] / one
    return {"events": events, "concurrency": CONCURRENCY, "by_workers": results}


SCALING_NOTE = (
    "Scenario 9, scaling: every worker is a Python process that is busy with HTTP and its share "
    "of the claim/record scripts, while Redis runs each script in one thread. On this machine "
    "the workers, Redis and the receiver share 2 cores, so more than two workers mostly compete "
    "for them; with a core per worker, throughput grows with the workers until Redis's one "
    "thread or the receiver is saturated (each delivery costs Redis two short scripts, batched "
    "per claim and per outcome flush). The endpoint's in-flight limit is shared: raise its "
    "`concurrency` with the number of workers.")


def row(result: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """The report's row of this scenario."""
    by = result["by_workers"]
    measured = ", ".join(f"{n} worker{'s' if n != '1' else ''}: {r['deliveries_per_s']:.0f}/s (×{r['scaling']:.2f})"
                         for n, r in by.items())
    return ("9", f"Redis: 1 vs 2 vs 4 worker processes drain a backlog of {result['events']} "
                 f"(one Redis, in-flight limit {result['concurrency']})", measured, "(recorded)", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_workers", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="a tiny backlog")
    args = parser.parse_args(argv)
    events = 200 if args.smoke else args.events
    receiver = Receiver("fast")
    try:
        with tempfile.TemporaryDirectory(prefix="hookwire-bench-redis-") as tmp:
            recording = write_recording(Path(tmp) / "webjs.jsonl", "WEBJS", events)
            result = run(Path(tmp), recording, events, receiver)
    finally:
        receiver.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
