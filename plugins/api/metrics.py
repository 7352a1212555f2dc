"""``GET /metrics``: Prometheus text format (version 0.0.4), written by hand.

Counters come from the process (events in, bad records, bus drops, attempt outcomes, slow
WebSocket clients); gauges from the delivery store (deliveries by status, queue depth, oldest
pending age). The attempt latency histogram reads the attempts the dispatcher wrote to the
SQLite store since the API started, incrementally (by rowid), at each scrape.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from aiohttp import web

from plugins.api.health import oldest_unfinished_at
from plugins.api.routes import Call, Response, Route
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import STATUSES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)

Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Metric families in the text format: ``# HELP``, ``# TYPE``, then the samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Labels, float]], suffix: str = "") -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.sample(name + suffix, labels, value)

    def sample(self, name: str, labels: Labels, value: float) -> None:
        text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1

    def write(self, out: Exposition, name: str, help_text: str) -> None:
        out.lines.append(f"# HELP {name} {help_text}")
        out.lines.append(f"# TYPE {name} histogram")
        for bound, count in zip(self.buckets, self.counts, strict=True):
            out.sample(f"{name}_bucket", {"le": _number(bound) if not float(bound).is_integer()
                                          else f"{bound:.1f}"}, count)
        out.sample(f"{name}_bucket", {"le": "+Inf"}, self.count)
        out.sample(f"{name}_sum", {}, self.sum)
        out.sample(f"{name}_count", {}, self.count)


class AttemptLatencyReader:
    """Feeds a histogram with the attempts the dispatcher records in the SQLite store."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.after_rowid: int | None = None
        self.histogram = Histogram()
        self._limiter = anyio.CapacityLimiter(1)

    def _read(self) -> list[float]:
        assert self.path is not None
        first = self.after_rowid is None
        if not self.path.exists():
            self.after_rowid = self.after_rowid or 0
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            if first:  # count from now on: the attempts of this run
                row = conn.execute("SELECT MAX(rowid) FROM attempts").fetchone()
                self.after_rowid = row[0] or 0
                return []
            rows = conn.execute("SELECT rowid, duration_ms FROM attempts WHERE rowid > ?"
                                " ORDER BY rowid LIMIT 100000", (self.after_rowid,)).fetchall()
        except sqlite3.OperationalError:  # the store has no tables yet
            self.after_rowid = self.after_rowid or 0
            return []
        finally:
            conn.close()
        if rows:
            self.after_rowid = rows[-1][0]
        return [row[1] / 1000 for row in rows]

    async def update(self) -> None:
        """Read new attempts; the first call (at start-up) only notes where to start."""
        if self.path is None:
            return
        for seconds in await anyio.to_thread.run_sync(self._read, limiter=self._limiter):
            self.histogram.observe(seconds)


async def render(api: Any) -> str:
    out = Exposition()
    kernel = api.registry.kernel
    stats = kernel.stats if kernel is not None else None
    out.family("hookwire_events_in_total", "counter", "Events published on the bus, by event and engine.",
               [({"event": event, "engine": engine}, count)
                for (event, engine), count in sorted((stats.events_in if stats else {}).items())])
    bad: list[tuple[Labels, float]] = []
    for name, session in sorted((kernel.engine_sessions if kernel else {}).items()):
        translator = getattr(session, "translator", None)
        count = getattr(translator, "bad_records", None)
        if isinstance(count, int):
            bad.append(({"session": name, "engine": getattr(translator, "engine", "") or ""}, count))
    out.family("hookwire_bad_records_total", "counter",
               "Native records that were logged and skipped as bad input, by session.", bad)
    out.family("hookwire_unknown_events_total", "counter",
               "Emissions of event names no plugin registered (dropped).",
               [({}, stats.unknown_events if stats else 0)])
    out.family("hookwire_bus_dropped_total", "counter",
               "Events dropped for a subscriber whose buffer was full (overflow = drop).",
               [({"subscriber": sub.name}, sub.dropped)
                for sub in (kernel.bus.subscribers if kernel else [])])
    recorder = getattr(api.webhook_sink, "recorder", None)
    outcomes = dict(getattr(recorder, "outcomes", {}) or {})
    out.family("hookwire_delivery_attempts_total", "counter",
               "Delivery attempts of this process, by the delivery's state after the attempt.",
               [({"outcome": o}, outcomes.get(o, 0)) for o in ("delivered", "pending", "dead", "disabled")])
    counts = await api.delivery_store.counts()
    out.family("hookwire_deliveries", "gauge", "Deliveries in the store, by status.",
               [({"status": s}, counts.get(s, 0)) for s in STATUSES])
    out.family("hookwire_delivery_queue_depth", "gauge",
               "Deliveries not final yet (pending and in flight).",
               [({}, counts.get("pending", 0) + counts.get("in_flight", 0))])
    oldest = await oldest_unfinished_at(api.delivery_store)
    out.family("hookwire_delivery_oldest_pending_age_seconds", "gauge",
               "Age of the oldest delivery not final yet (0 when there is none).",
               [({}, 0 if oldest is None else max(0.0, (now_ms() - oldest) / 1000))])
    await api.latency.update()
    api.latency.histogram.write(out, "hookwire_delivery_attempt_duration_seconds",
                                "Duration of delivery attempts (request to answer or failure).")
    statuses: dict[str, int] = {}
    for name in api.manager.names():
        status = api.manager.status(name)
        statuses[status] = statuses.get(status, 0) + 1
    out.family("hookwire_sessions", "gauge", "Sessions by status.",
               [({"status": s}, statuses.get(s, 0))
                for s in ("STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED")])
    out.family("hookwire_websocket_clients", "gauge", "WebSocket clients connected.",
               [({}, len(api.hub.clients))])
    out.family("hookwire_websocket_slow_disconnects_total", "counter",
               "WebSocket clients disconnected for falling too far behind.",
               [({}, api.hub.disconnected_slow)])
    return out.text()


async def metrics(call: Call) -> web.StreamResponse:
    text = await render(call.api)
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})


ROUTES = [
    Route("GET", "/metrics", metrics, "Metrics in the Prometheus text format", "operations",
          {200: Response("the metrics", media="text/plain", schema={"type": "string"})}),
]
