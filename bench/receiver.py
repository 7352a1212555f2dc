"""The benchmark's receivers, run as a separate process: ``python -m bench.receiver --mode M``.

``fast`` answers 200 at once and counts; ``latency`` also decodes each envelope and records
``now - envelope.timestamp``; ``blackhole`` accepts connections and never answers. The first
line on stdout is ``PORT <n>``. ``GET /stats`` reports counts, first/last arrival times, the
steady-state rate (requests between the 10th and the 90th percentile of arrivals, over the
time between them: start-up and the tail do not count), the distinct request ids and the
receiver's own CPU seconds (to show it is not the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import msgspec
from aiohttp import web


class Stats:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.request_ids: set[str] = set()
        self.latencies_ms: list[float] = []
        self.arrivals: list[float] = []


def make_app(mode: str) -> web.Application:
    stats = Stats()
    decoder = msgspec.json.Decoder()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        if not stats.count:
            stats.first = now
        stats.count += 1
        stats.last = now
        stats.arrivals.append(now)
        stats.request_ids.add(request.headers.get("X-Webhook-Request-Id", ""))
        if mode == "latency":
            stats.latencies_ms.append(now * 1000 - decoder.decode(body)["timestamp"])
        return web.Response(text="ok")

    async def report(request: web.Request) -> web.Response:
        lat = sorted(stats.latencies_ms)
        arrivals = stats.arrivals
        steady = None
        if len(arrivals) >= 20:
            low, high = len(arrivals) // 10, len(arrivals) * 9 // 10
            span = arrivals[high] - arrivals[low]
            steady = (high - low) / span if span > 0 else None
        return web.json_response({
            "count": stats.count, "first": stats.first, "last": stats.last, "steady_per_s": steady,
            "distinct": len(stats.request_ids),
            # Wall-clock time of every tenth of the arrivals (where the time went: ramp, tail).
            "deciles": [arrivals[min(len(arrivals) - 1, len(arrivals) * k // 10)] for k in range(11)]
            if arrivals else [], "cpu_seconds": time.process_time(),
            "p50_ms": statistics.median(lat) if lat else None,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
        })

    async def reset(request: web.Request) -> web.Response:
        stats.__init__()  # type: ignore[misc]
        return web.Response(text="ok")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/stats", report)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", handle)
    return app


async def blackhole(port: int) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


async def serve(mode: str, port: int) -> None:
    runner = web.AppRunner(make_app(mode), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {bound}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["fast", "latency", "blackhole"], default="fast")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(blackhole(args.port) if args.mode == "blackhole" else serve(args.mode, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
