"""``GET /metrics``: Prometheus text format (version 0.0.4), written by hand.

Counters come from the process (events in, bad records, bus drops, attempt outcomes, slow
WebSocket clients); gauges from the delivery service (deliveries by status, queue depth,
oldest pending age). The attempt latency histogram is fed, at each scrape, with the attempts
the delivery service reports since the previous one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from core.delivery import DELIVERY_STATUSES, DeliveryStats
from plugins.api.errors import ApiError
from plugins.api.routes import Call, Response, Route

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


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
    try:
        service = api.delivery
    except ApiError:
        service = None
    stats_ = await service.stats() if service is not None else DeliveryStats(
        counts={}, oldest_unfinished_at=None, attempt_outcomes={})
    outcomes = stats_.attempt_outcomes
    out.family("hookwire_delivery_attempts_total", "counter",
               "Delivery attempts of this process, by the delivery's state after the attempt.",
               [({"outcome": o}, outcomes.get(o, 0)) for o in ("delivered", "pending", "dead", "disabled")])
    counts = stats_.counts
    out.family("hookwire_deliveries", "gauge", "Deliveries in the store, by status.",
               [({"status": s}, counts.get(s, 0)) for s in DELIVERY_STATUSES])
    out.family("hookwire_delivery_queue_depth", "gauge",
               "Deliveries not final yet (pending and in flight).",
               [({}, counts.get("pending", 0) + counts.get("in_flight", 0))])
    oldest = stats_.oldest_unfinished_at
    out.family("hookwire_delivery_oldest_pending_age_seconds", "gauge",
               "Age of the oldest delivery not final yet (0 when there is none).",
               [({}, 0 if oldest is None else max(0.0, (now_ms() - oldest) / 1000))])
    if service is not None:
        for seconds in await service.attempt_durations():
            api.latency.observe(seconds)
    api.latency.write(out, "hookwire_delivery_attempt_duration_seconds",
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
