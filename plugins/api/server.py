"""The aiohttp application: routes from the table, errors as JSON, the API key, a body limit.

Middlewares, outermost first: errors (every failure becomes ``{"error", "detail"}`` with its
status; an unexpected exception is logged with its traceback and answered 500 without one),
then access: the API key (:mod:`plugins.api.auth`) on every route that is not public or in
``api_key_exclude_paths``, and ``/docs`` and ``/openapi.json`` switched off or behind basic
auth as WAHA's ``WHATSAPP_SWAGGER_*`` variables say.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from core.logging import get_logger
from plugins.api import (
    auth_routes,
    dashboard,
    deliveries,
    docs,
    health,
    metrics,
    sandbox_routes,
    sending,
    server_routes,
    sessions,
    ws_tickets,
)
from plugins.api.auth import check_key
from plugins.api.config import SESSION_NAME
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
        {"name": "ticket", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "a one-time ticket from POST /api/ws/ticket (browsers: no key in the URL)"},
    ])


def all_routes() -> list[Route]:
    return [*sessions.ROUTES, *auth_routes.ROUTES, *sending.ROUTES, *sandbox_routes.ROUTES,
            *server_routes.ROUTES, *deliveries.ROUTES, *health.ROUTES, *metrics.ROUTES,
            *docs.ROUTES, *dashboard.ROUTES, *ws_tickets.ROUTES, WS_ROUTE]


def _handler(api: ApiSink, route: Route) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        if route is WS_ROUTE and not web.WebSocketResponse().can_prepare(request).ok:
            raise ApiError(426, "upgrade_required", "this is a WebSocket endpoint: connect with "
                           "a WebSocket client")
        name = request.match_info.get("session")
        if name is not None and not SESSION_NAME.match(name):
            raise ApiError(422, "invalid_path", f"{name!r} is not a session name (1-64 of "
                           "A-Z a-z 0-9 _ . -)", "path.session")
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


DOCS_PATHS = frozenset({"/", "/docs", "/openapi.json"})
#: Static files of the public pages (reachable without the key; the calls they make need it).
PUBLIC_PREFIXES = (docs.STATIC_PREFIX, dashboard.STATIC_PREFIX)


def _is_docs(path: str) -> bool:
    return path in DOCS_PATHS or path.startswith(docs.STATIC_PREFIX)


def _basic_auth_matches(request: web.Request, username: str, password: str) -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = f"{username}:{password}".encode()
    return hmac.compare_digest(given, expected)


def build_app(api: ApiSink) -> web.Application:
    config = api.config
    public = {route.path for route in all_routes() if route.public} | set(config.api_key_exclude_paths)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if _is_docs(request.path):
            if not config.swagger_enabled:
                raise ApiError(404, "not_found", "the API documentation is switched off "
                               "(WHATSAPP_SWAGGER_ENABLED=false)")
            if config.swagger_username is not None and config.swagger_password is not None \
                    and not _basic_auth_matches(request, config.swagger_username,
                                                config.swagger_password):
                return error_response(401, "unauthorized", "the API documentation needs the "
                                      "username and password set by WHATSAPP_SWAGGER_USERNAME "
                                      "and WHATSAPP_SWAGGER_PASSWORD",
                                      headers={"WWW-Authenticate": 'Basic realm="hookwire docs"'})
        ticketed = request.path == "/ws" and api.tickets.redeem(request.query.get("ticket", ""))
        if request.path not in public and not request.path.startswith(PUBLIC_PREFIXES) \
                and not ticketed:
            check_key(request, config)
        return await handler(request)

    app = web.Application(client_max_size=api.config.max_body_bytes,
                          middlewares=[errors_middleware, auth_middleware])
    for route in all_routes():
        app.router.add_route(route.method, route.path, _handler(api, route))
    for path, static in (*docs.STATIC_ROUTES, *dashboard.STATIC_ROUTES):
        app.router.add_get(path, static)
    return app
