"""The aiohttp application: routes from the table, errors as JSON, the API key, a body limit.

Middlewares, outermost first: errors (every failure becomes ``{"error", "detail"}`` with its
status; an unexpected exception is logged with its traceback and answered 500 without one),
then the API key (:mod:`plugins.api.auth`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from core.logging import get_logger
from plugins.api import deliveries, docs, health, metrics, sessions
from plugins.api.auth import check_key
from plugins.api.errors import ApiError, error_response, read_body, read_query
from plugins.api.routes import Call, Response, Route

if TYPE_CHECKING:
    from plugins.api.sink import ApiSink

log = get_logger("plugins.api")


async def _ws_placeholder(call: Call) -> web.StreamResponse:
    return await call.api.hub.handle(call.request)


WS_ROUTE = Route(
    "GET", "/ws", _ws_placeholder, "Stream events over WebSocket", "events",
    {101: Response("switching to WebSocket: each message is one envelope (the webhook body)")},
    errors=(426,), description="`session` and `events` may be repeated or comma-separated; `*` "
    "(the default) means all sessions / all events but engine.event. A client that falls "
    "`[api] ws_buffer` envelopes behind is disconnected (close code 1013).",
    parameters=[
        {"name": "session", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "events", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "x-api-key", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "the API key, for clients that cannot set a header"},
    ])


def all_routes() -> list[Route]:
    return [*sessions.ROUTES, *deliveries.ROUTES, *health.ROUTES, *metrics.ROUTES, *docs.ROUTES,
            WS_ROUTE]


def _handler(api: ApiSink, route: Route) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        if route is WS_ROUTE and not web.WebSocketResponse().can_prepare(request).ok:
            raise ApiError(426, "upgrade_required", "this is a WebSocket endpoint: connect with "
                           "a WebSocket client")
        body = None
        if route.body is not None:
            body = await read_body(request, route.body, api.config.max_body_bytes)
        query = read_query(request.query, route.query) if route.query is not None else None
        return await route.handler(Call(api, request, body, query))

    handle.__name__ = route.handler.__name__
    return handle


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        return error_response(exc.status, exc.error, exc.detail, exc.path)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status == 413:
            return error_response(413, "body_too_large", exc.text or "the request body is too large")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "location")}
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                              f"{exc.reason}: {request.method} {request.path}", headers=headers)
    except Exception as exc:
        status = 500
        log.error("API request failed", method=request.method, path=request.path,
                  error=f"{type(exc).__name__}: {exc}", exc_info=True)
        return error_response(500, "internal", "an internal error; it was logged")
    finally:
        log.debug("API request", method=request.method, path=request.path, status=status,
                  duration_ms=round((time.perf_counter() - started) * 1000, 3))


def build_app(api: ApiSink) -> web.Application:
    public = {route.path for route in all_routes() if route.public}

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path not in public:
            check_key(request, api.config.api_key)
        return await handler(request)

    app = web.Application(client_max_size=api.config.max_body_bytes,
                          middlewares=[errors_middleware, auth_middleware])
    for route in all_routes():
        app.router.add_route(route.method, route.path, _handler(api, route))
    return app
