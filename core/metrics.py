"""Prometheus metrics, with ``prometheus_client``.

Two kinds, both exposed by whoever serves ``/metrics`` (the HTTP API) with :func:`exposition`:

- **Observed where things happen.** Each package defines its metrics once per process, at
  module level, on prometheus_client's default registry, and counts or times things as they
  happen (the kernel: events in, bus drops; the webhook plugin: attempts, their latency and
  outcomes; the engines: bad records). On a hot path, bind the label values once
  (``counter.labels(...)``) and keep the child: an increment is then a lock and an addition.
- **Read at scrape time.** Numbers that live elsewhere (deliveries in a store that other
  processes write too, the sessions of this process's kernel) come from a
  :class:`ScrapeCollector` a plugin registers with ``registry.add_metrics(collector)``: its
  ``refresh()`` is awaited before each scrape, then its ``collect()`` yields the families.

The default registry also holds prometheus_client's process, platform and garbage-collector
metrics (``process_*``, ``python_*``).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio
from prometheus_client import REGISTRY, Counter, Info, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric

from core import __version__
from core.logging import get_logger

if TYPE_CHECKING:
    from core.registry import Registry

log = get_logger("core.metrics")

# No ``*_created`` series next to every counter and histogram: noise on a dashboard.
disable_created_metrics()

#: The media type of :func:`exposition`'s answer (Prometheus text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: How long one collector's ``refresh()`` may take before the scrape goes on without it.
REFRESH_TIMEOUT_SECONDS = 10.0

EVENTS_IN = Counter("hookwire_events_in", "Events published on the bus, by event and engine.",
                    ["event", "engine"])
UNKNOWN_EVENTS = Counter("hookwire_unknown_events",
                         "Emissions of event names no plugin registered (dropped).")
BUS_DROPPED = Counter("hookwire_bus_dropped",
                      "Events dropped for a bus subscriber whose buffer was full (overflow = drop).",
                      ["subscriber"])
BUILD_INFO = Info("hookwire_build", "The running hookwire: version and Python.")
BUILD_INFO.info({"version": __version__, "python": platform.python_version(),
                 "implementation": platform.python_implementation()})

_events_in: dict[tuple[str, str], object] = {}


def count_event_in(event: str, engine: str) -> None:
    """One event published (the kernel's emit path): the label child is made once per pair."""
    child = _events_in.get((event, engine))
    if child is None:
        child = _events_in[(event, engine)] = EVENTS_IN.labels(event, engine)
    child.inc()  # type: ignore[attr-defined]


@runtime_checkable
class ScrapeCollector(Protocol):
    """Metrics read at scrape time (see the module docstring)."""

    async def refresh(self) -> None:
        """Read what ``collect`` will report (a store, a kernel). Raising (or taking longer
        than :data:`REFRESH_TIMEOUT_SECONDS`) is logged; ``collect`` is then still called and
        should yield what it can (or nothing)."""

    def collect(self) -> Iterable[Metric]:
        """The metric families, as prometheus_client's custom collectors yield them."""


class _Scrape:
    """The default registry plus an app's scrape-time collectors, as one registry."""

    def __init__(self, collectors: list[ScrapeCollector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        for collector in self.collectors:
            try:
                yield from collector.collect()
            except Exception as exc:  # one broken collector must not hide the others
                log.warning("metrics collector failed", collector=type(collector).__name__,
                            error=f"{type(exc).__name__}: {exc}")


async def exposition(registry: Registry) -> bytes:
    """Every metric of this process and of ``registry``'s collectors, in the text format."""
    collectors = list(registry.metrics)
    for collector in collectors:
        try:
            with anyio.fail_after(REFRESH_TIMEOUT_SECONDS):
                await collector.refresh()
        except Exception as exc:
            log.warning("metrics collector cannot refresh; its last numbers are shown",
                        collector=type(collector).__name__, error=f"{type(exc).__name__}: {exc}")
    return generate_latest(_Scrape(collectors))  # type: ignore[arg-type]


#: Statuses ``hookwire_sessions`` always reports (0 when no session has it), WAHA's.
SESSION_STATUSES = ("STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED")


class KernelMetrics:
    """:class:`ScrapeCollector` of the sessions of ``registry``'s kernel: how many are in each
    status (running ones by their last ``session.status``, ended ones ``STOPPED`` or
    ``FAILED``), and each live session's restarts and stalls (its
    :class:`core.engine.SessionHealth`). Every registry has one."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def refresh(self) -> None:
        pass  # read in collect(): the kernel is in this process

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from core.engine import HealthReporter

        kernel = self.registry.kernel
        statuses = dict.fromkeys(SESSION_STATUSES, 0)
        restarts = CounterMetricFamily("hookwire_session_restarts", "Restarts of a live session's "
                                       "bridge (it exited or was restarted by the watchdog).",
                                       labels=["session", "engine"])
        stalls = CounterMetricFamily("hookwire_session_stalls", "Watchdog restarts of a live "
                                     "session: WORKING, but silent for too long.",
                                     labels=["session", "engine"])
        if kernel is not None:
            running = set(kernel.session_names())
            for name, session in sorted(kernel.engine_sessions.items()):
                health = None
                if isinstance(session, HealthReporter):
                    try:
                        health = session.health()
                    except Exception:  # a broken reporter must not break the scrape
                        health = None
                seen = kernel.session_statuses.get(name)
                if (health is not None and health.failed) or seen == "FAILED":
                    status = "FAILED"
                elif name not in running:
                    status = "STOPPED"
                else:
                    status = seen if seen in statuses else "STARTING"
                statuses[status] = statuses.get(status, 0) + 1
                if health is not None:
                    engine = getattr(getattr(session, "config", None), "engine", "") or ""
                    restarts.add_metric([name, engine], health.restarts)
                    stalls.add_metric([name, engine], health.stalls)
        sessions = GaugeMetricFamily("hookwire_sessions", "Sessions this process runs or ran, "
                                     "by status.", labels=["status"])
        for status, count in statuses.items():
            sessions.add_metric([status], count)
        yield from (sessions, restarts, stalls)
