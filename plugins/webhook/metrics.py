"""The webhook plugin's metrics.

Observed as attempts are made (module level, once per process; the label children of each
endpoint are bound once, by its worker, so an attempt costs one histogram observation and two
increments):

- ``hookwire_delivery_attempts_total{endpoint, status_class}``: ``2xx`` … ``5xx``, or
  ``error`` (no answer: a timeout, a refused connection, a TLS failure);
- ``hookwire_delivery_attempt_duration_seconds{endpoint}``: a histogram;
- ``hookwire_delivery_outcomes_total{endpoint, outcome}``: what each attempt made of its delivery,
  ``delivered``, ``retried`` (waiting for its next attempt), ``dead`` or ``disabled`` (held: the
  endpoint answered 410).

Read from the store at scrape time (:class:`DeliveryStoreMetrics`, through the plugin's
delivery service, so they count every process that shares the store, on SQLite and Redis):
``hookwire_deliveries{status}``, ``hookwire_delivery_queue_depth``,
``hookwire_delivery_oldest_pending_age_seconds``, and per endpoint
``hookwire_endpoint_pending``, ``hookwire_endpoint_dead`` and
``hookwire_endpoint_state{state}`` (1 for the
endpoint's state: ``active``, ``paused`` by the circuit breaker, ``disabled`` by a 410).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from core.delivery import DELIVERY_STATUSES, DeliveryStats, EndpointRecord

if TYPE_CHECKING:
    from plugins.webhook.service import WebhookDeliveryService

#: Seconds; from a fast loopback answer to the longest timeout WAHA allows.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
#: The delivery's status after an attempt (``AttemptRecord.outcome``) -> the metric's word.
OUTCOMES = {"delivered": "delivered", "pending": "retried", "dead": "dead", "disabled": "disabled"}
ENDPOINT_STATES = ("active", "paused", "disabled")

ATTEMPTS = Counter("hookwire_delivery_attempts", "Delivery attempts, by endpoint and the class "
                   "of the answer's status (error: no answer).", ["endpoint", "status_class"])
ATTEMPT_SECONDS = Histogram("hookwire_delivery_attempt_duration_seconds",
                            "Duration of delivery attempts, from the request to its answer or "
                            "failure.", ["endpoint"], buckets=LATENCY_BUCKETS)
OUTCOMES_TOTAL = Counter("hookwire_delivery_outcomes", "What each attempt made of its delivery: "
                         "delivered, retried, dead or disabled (held after a 410).",
                         ["endpoint", "outcome"])


class EndpointMetrics:
    """One endpoint's label children, bound once (its worker holds it), and the deliveries of
    this run waiting for a retry (for the progress line)."""

    def __init__(self, endpoint: str) -> None:
        self.retrying: set[str] = set()
        self.duration = ATTEMPT_SECONDS.labels(endpoint)
        self.classes = [ATTEMPTS.labels(endpoint, name) for name in STATUS_CLASSES]
        self.outcomes = {status: OUTCOMES_TOTAL.labels(endpoint, word)
                         for status, word in OUTCOMES.items()}

    def attempt(self, delivery_id: str, status_code: int | None, duration_ms: float,
                outcome: str) -> None:
        if outcome == "pending":
            self.retrying.add(delivery_id)
        elif self.retrying:
            self.retrying.discard(delivery_id)
        self.duration.observe(duration_ms / 1000)
        group = status_code // 100 - 2 if status_code is not None else 4
        self.classes[group if 0 <= group < 4 else 4].inc()
        counter = self.outcomes.get(outcome)
        if counter is not None:
            counter.inc()


class DeliveryStoreMetrics:
    """:class:`core.metrics.ScrapeCollector` of what is in the store, read through the delivery
    service (open while the API runs; nothing is reported while it is closed)."""

    def __init__(self, service: WebhookDeliveryService) -> None:
        self.service = service
        self.stats: DeliveryStats | None = None
        self.endpoints: list[EndpointRecord] = []

    async def refresh(self) -> None:
        if not self.service.is_open:
            self.stats = None
            return
        self.stats = await self.service.stats()
        self.endpoints = await self.service.endpoints()

    def collect(self) -> Iterator[Metric]:
        stats, endpoints = self.stats, self.endpoints or []
        if stats is None:
            return
        counts = stats.counts
        by_status = GaugeMetricFamily("hookwire_deliveries", "Deliveries in the store, by status.",
                                      labels=["status"])
        for status in DELIVERY_STATUSES:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        yield GaugeMetricFamily("hookwire_delivery_queue_depth",
                                "Deliveries not final yet (pending and in flight).",
                                value=counts.get("pending", 0) + counts.get("in_flight", 0))
        oldest = stats.oldest_unfinished_at
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)
        yield GaugeMetricFamily("hookwire_delivery_oldest_pending_age_seconds",
                                "Age of the oldest delivery not final yet (0 when there is none).",
                                value=age)
        pending = GaugeMetricFamily("hookwire_endpoint_pending", "Deliveries of the endpoint not "
                                    "final yet (pending, in flight or held while it is disabled).",
                                    labels=["endpoint"])
        dead = GaugeMetricFamily("hookwire_endpoint_dead", "Dead deliveries of the endpoint "
                                 "(kept, re-sendable).", labels=["endpoint"])
        state = GaugeMetricFamily("hookwire_endpoint_state", "1 for the endpoint's state: active, "
                                  "paused (circuit breaker) or disabled (410 Gone).",
                                  labels=["endpoint", "state"])
        for row in endpoints:
            pending.add_metric([row.endpoint], row.pending)
            dead.add_metric([row.endpoint], row.dead)
            for name in ENDPOINT_STATES:
                state.add_metric([row.endpoint, name], 1 if row.state == name else 0)
        yield from (pending, dead, state)
