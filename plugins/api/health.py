"""``GET /health``: is delivery making progress, not only "is the process alive".

Delivery is *stuck* when an active endpoint has a delivery that has been due for longer than
``[api] stuck_after_seconds`` without being attempted (its dispatcher does not keep up, or is
gone). Paused and disabled endpoints hold deliveries on purpose: listed, not stuck. Endpoints
no longer configured are left out (their deliveries wait for the webhook to come back).
Deliveries a dispatcher has claimed (``in_flight``, up to its prefetch) count as attempted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.logging import get_logger
from plugins.api.errors import json_response
from plugins.api.models import DeliveryHealth, Health
from plugins.api.routes import Call, Response, Route
from plugins.webhook.http import redact_url
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import DeliveryFilter, DeliveryStore

log = get_logger("plugins.api")


async def oldest_unfinished_at(store: DeliveryStore) -> int | None:
    """``created_at`` of the oldest delivery that is pending or in flight."""
    oldest: int | None = None
    for status in ("pending", "in_flight"):
        rows = await store.list_deliveries(DeliveryFilter(status=status, limit=1))
        if rows and (oldest is None or rows[0].created_at < oldest):
            oldest = rows[0].created_at
    return oldest


async def delivery_health(store: DeliveryStore, configured: set[str] | None,
                          stuck_after: float) -> DeliveryHealth:
    now = now_ms()
    counts = await store.counts()
    oldest = await oldest_unfinished_at(store)
    stuck: list[str] = []
    paused: list[str] = []
    disabled: list[str] = []
    max_overdue: float | None = None
    for row in await store.endpoints():
        shown = redact_url(row.endpoint)
        if row.state == "paused":
            paused.append(shown)
            continue
        if row.state == "disabled":
            disabled.append(shown)
            continue
        if configured is not None and row.endpoint not in configured:
            continue
        due = await store.next_due_at(row.endpoint)
        if due is None or due > now:
            continue
        overdue = (now - due) / 1000
        max_overdue = overdue if max_overdue is None else max(max_overdue, overdue)
        if overdue > stuck_after:
            stuck.append(shown)
    return DeliveryHealth(
        pending=counts.get("pending", 0), in_flight=counts.get("in_flight", 0),
        dead=counts.get("dead", 0),
        oldest_pending_age_seconds=None if oldest is None else max(0.0, (now - oldest) / 1000),
        max_overdue_seconds=max_overdue, stuck_endpoints=stuck, paused_endpoints=paused,
        disabled_endpoints=disabled)


def configured_endpoints(webhook_sink: Any) -> set[str] | None:
    workers = getattr(webhook_sink, "workers", None)
    return set(workers) if isinstance(workers, dict) else None


async def health(call: Call) -> web.StreamResponse:
    api = call.api
    sessions = {name: api.manager.status(name) for name in api.manager.names()}
    try:
        delivery = await delivery_health(api.delivery_store, configured_endpoints(api.webhook_sink),
                                         api.config.stuck_after_seconds)
    except Exception as exc:  # the store cannot be read: that is unhealthy, not a crash
        log.error("health: cannot read the delivery store", error=f"{type(exc).__name__}: {exc}")
        return json_response(Health(status="unknown", detail=f"cannot read the delivery store: "
                                    f"{type(exc).__name__}", delivery=None, sessions=sessions), 503)
    if delivery.stuck_endpoints:
        detail = (f"deliveries due for more than {api.config.stuck_after_seconds:g} s without an "
                  f"attempt: {', '.join(delivery.stuck_endpoints)}")
        return json_response(Health(status="stuck", detail=detail, delivery=delivery,
                                    sessions=sessions), 503)
    return json_response(Health(status="ok", detail="delivery is making progress",
                                delivery=delivery, sessions=sessions))


ROUTES = [
    Route("GET", "/health", health, "Is delivery making progress", "operations",
          {200: Response("healthy", Health), 503: Response("stuck, or the store cannot be read", Health)},
          public=True),
]
