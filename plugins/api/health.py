"""``GET /health``: is delivery making progress and are the sessions well, not only "is the
process alive". WAHA's shape (its ``@nestjs/terminus`` check): ``{status, info, error,
details}``, one indicator per concern with ``status: up|down``; 200 when every indicator is up,
else 503 with the same body.

- ``delivery`` is down when an active endpoint has a delivery due for longer than
  ``[api] stuck_after_seconds`` without an attempt (its dispatcher does not keep up or is gone),
  or the store cannot be read.
- ``sessions`` is down while a session is ``FAILED`` (it gave up) or stalled: its last event
  was a failure (a crash, a connect failure, a watchdog restart) and it has shown no sign of
  life since.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from aiohttp import web

from core.delivery import DeliveryHealth
from core.logging import get_logger
from plugins.api.errors import ApiError, json_response
from plugins.api.routes import Call, Response, Route
from plugins.api.session_info import engine_health

log = get_logger("plugins.api")


class DeliveryIndicator(DeliveryHealth, kw_only=True):
    status: Literal["up", "down"]
    message: str


class SessionsIndicator(msgspec.Struct, kw_only=True):
    status: Literal["up", "down"]
    message: str
    #: Every session's status, by name.
    sessions: dict[str, str]
    #: Sessions that gave up (FAILED).
    failing: list[str]
    #: Sessions whose last event was a failure, silent since.
    stalled: list[str]
    #: Their last errors, by name.
    errors: dict[str, str]


class Indicators(msgspec.Struct, kw_only=True, omit_defaults=True):
    delivery: DeliveryIndicator | None = None
    sessions: SessionsIndicator | None = None


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok", "error"]
    info: Indicators
    error: Indicators
    details: Indicators


def sessions_indicator(call: Call) -> SessionsIndicator:
    manager = call.api.manager
    statuses: dict[str, str] = {}
    failing: list[str] = []
    stalled: list[str] = []
    errors: dict[str, str] = {}
    for name in manager.names():
        status = statuses[name] = manager.status(name)
        health = engine_health(manager.engine_session(name))
        if health is not None and health.last_error:
            errors[name] = health.last_error
        if status == "FAILED":
            failing.append(name)
        elif health is not None and manager.running(name) and health.last_error_at is not None \
                and (health.last_activity_at or 0) <= health.last_error_at:
            stalled.append(name)
    down = failing or stalled
    parts = []
    if failing:
        parts.append(f"failing: {', '.join(failing)}")
    if stalled:
        parts.append(f"stalled: {', '.join(stalled)}")
    return SessionsIndicator(status="down" if down else "up",
                             message="; ".join(parts) if down else "no session is failing",
                             sessions=statuses, failing=failing, stalled=stalled, errors=errors)


async def delivery_indicator(call: Call) -> DeliveryIndicator | None:
    api = call.api
    try:
        service = api.delivery
    except ApiError:
        return None  # nothing delivers here: nothing to report
    limit = api.config.stuck_after_seconds
    try:
        found = await service.health(limit)
    except Exception as exc:  # the store cannot be read: that is unhealthy, not a crash
        log.warning("health: cannot read the delivery store", error=f"{type(exc).__name__}: {exc}")
        return DeliveryIndicator(status="down", message=f"cannot read the delivery store: "
                                 f"{type(exc).__name__}", pending=0, in_flight=0, dead=0,
                                 oldest_pending_age_seconds=None, max_overdue_seconds=None,
                                 stuck_endpoints=[], paused_endpoints=[], disabled_endpoints=[])
    fields: dict[str, Any] = msgspec.structs.asdict(found)
    if found.stuck_endpoints:
        return DeliveryIndicator(status="down", message=(
            f"deliveries due for more than {limit:g} s without an attempt: "
            f"{', '.join(found.stuck_endpoints)}"), **fields)
    return DeliveryIndicator(status="up", message="delivery is making progress", **fields)


async def health(call: Call) -> web.StreamResponse:
    delivery = await delivery_indicator(call)
    sessions = sessions_indicator(call)
    up = Indicators(delivery=delivery if delivery and delivery.status == "up" else None,
                    sessions=sessions if sessions.status == "up" else None)
    down = Indicators(delivery=delivery if delivery and delivery.status == "down" else None,
                      sessions=sessions if sessions.status == "down" else None)
    ok = down.delivery is None and down.sessions is None
    body = Health(status="ok" if ok else "error", info=up, error=down,
                  details=Indicators(delivery=delivery, sessions=sessions))
    return json_response(body, 200 if ok else 503)


ROUTES = [
    Route("GET", "/health", health, "Check the health of the server", "observability",
          {200: Response("every check is up", Health),
           503: Response("a check is down: delivery stuck or unreadable, or a session failing "
                         "or stalled", Health)},
          public=True,
          description="WAHA's shape: `status` `ok` or `error`; `info` holds the checks that are "
                      "up, `error` those that are down, `details` all of them."),
]
