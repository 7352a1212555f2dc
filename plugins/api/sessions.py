"""Session routes, as WAHA has them: list, create, get, update, delete, start, stop, restart,
logout, ``me``, and the deprecated ``POST /api/sessions/start|stop|logout`` with a body.

WAHA's ``POST`` routes answer 201 (NestJS' default) and its ``void`` ones an empty body.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from plugins.api.errors import json_response
from plugins.api.routes import Call, Response, Route
from plugins.api.session_commands import logout, me
from plugins.api.session_models import (
    MeInfo,
    SessionCreate,
    SessionInfo,
    SessionLogoutBody,
    SessionLogoutDeprecated,
    SessionStartDeprecated,
    SessionStopDeprecated,
    SessionUpdate,
)


class ListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Also sessions that are not running (WAHA's ``all``).
    all: bool = False
    #: ``apps``: include each session's apps.
    expand: Literal["apps"] | None = None


class InfoQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    expand: Literal["apps"] | None = None


def _shown(info: SessionInfo, expand: str | None) -> SessionInfo:
    if expand == "apps":
        return msgspec.structs.replace(info, apps=info.apps or [])
    return msgspec.structs.replace(info, apps=None)


def empty(status: int = 200) -> web.Response:
    return web.Response(status=status)


async def list_sessions(call: Call) -> web.StreamResponse:
    manager = call.api.manager
    infos = [manager.info(name) for name in manager.names()]
    if not call.query.all:
        infos = [i for i in infos if i.running]
    return json_response([_shown(i, call.query.expand) for i in infos])


async def get_session(call: Call) -> web.StreamResponse:
    return json_response(_shown(call.api.manager.info(call.path("session")), call.query.expand))


async def create_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.create(call.body), status=201)


async def update_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.update(call.path("session"), call.body))


async def delete_session(call: Call) -> web.StreamResponse:
    await call.api.manager.delete(call.path("session"))
    return empty()


async def start_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.start(call.path("session")), status=201)


async def stop_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.stop(call.path("session")), status=201)


async def restart_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.restart(call.path("session")), status=201)


async def logout_session(call: Call) -> web.StreamResponse:
    name = call.path("session")
    await logout(call.api.manager, name)
    return json_response(call.api.manager.info(name), status=201)


async def get_me(call: Call) -> web.StreamResponse:
    manager = call.api.manager
    name = call.path("session")
    manager.require_running(name)
    return json_response(await me(manager, name))


async def deprecated_start(call: Call) -> web.StreamResponse:
    body: SessionStartDeprecated = call.body
    return json_response(await call.api.manager.upsert_and_start(body.name, body.config, body.engine),
                         status=201)


async def deprecated_stop(call: Call) -> web.StreamResponse:
    body: SessionStopDeprecated = call.body
    manager = call.api.manager
    if body.logout:
        if manager.running(body.name):
            await logout(manager, body.name, restart=False)
        await manager.delete(body.name)
    else:
        manager.require(body.name)
        await manager.stop(body.name)
    return empty(201)


async def deprecated_logout(call: Call) -> web.StreamResponse:
    body: SessionLogoutDeprecated = call.body
    manager = call.api.manager
    if manager.running(body.name):
        await logout(manager, body.name, restart=False)
    await manager.delete(body.name)
    return empty(201)


def _info(description: str, status: int = 200) -> dict[int, Response]:
    return {status: Response(description, SessionInfo)}


TAG = "sessions"

ROUTES = [
    # The deprecated forms first: their paths would otherwise match /api/sessions/{session}.
    Route("POST", "/api/sessions/start", deprecated_start, "Upsert and start a session (deprecated)",
          TAG, _info("the session", 201), body=SessionStartDeprecated, errors=(409, 503),
          description="Creates the session (or updates its config) and starts it; 422 when it "
                      "is running already. Deprecated by WAHA: use POST /api/sessions."),
    Route("POST", "/api/sessions/stop", deprecated_stop, "Stop (and log out and delete) a session "
          "(deprecated)", TAG, {201: Response("stopped (no body)")}, body=SessionStopDeprecated,
          errors=(404, 409, 501, 503, 504)),
    Route("POST", "/api/sessions/logout", deprecated_logout, "Log out and delete a session "
          "(deprecated)", TAG, {201: Response("logged out and deleted (no body)")},
          body=SessionLogoutDeprecated, errors=(409, 501, 503, 504)),
    Route("GET", "/api/sessions", list_sessions, "List sessions", TAG,
          {200: Response("the sessions (running ones unless all=true)", list[SessionInfo])},
          query=ListQuery),
    Route("POST", "/api/sessions", create_session, "Create a session (and start it)", TAG,
          _info("the session", 201), body=SessionCreate, errors=(503,),
          description="WAHA's whole SessionConfig is accepted; what hookwire does not apply is "
                      "kept, returned and listed in `warnings`. Webhooks in `config.webhooks` "
                      "apply to this session only; the session and its webhooks are kept across "
                      "restarts. 422 when the name is taken."),
    Route("GET", "/api/sessions/{session}", get_session, "Get a session: status, engine, me, "
          "config, health", TAG, _info("the session"), query=InfoQuery, errors=(404,)),
    Route("PUT", "/api/sessions/{session}", update_session, "Update a session's config", TAG,
          _info("the session"), body=SessionUpdate, errors=(404, 409, 503),
          description="A change of webhooks only takes effect at once, without a restart; any "
                      "other change restarts a running session. A secret sent back as `***` "
                      "(how GET shows it) keeps the stored secret."),
    Route("DELETE", "/api/sessions/{session}", delete_session, "Stop and delete a session", TAG,
          {200: Response("deleted, or there was no such session (no body)")}, errors=(409, 503)),
    Route("GET", "/api/sessions/{session}/me", get_me, "The session's own account", TAG,
          {200: Response("the account, or null while it is not known", MeInfo | None)},
          errors=(404,)),
    Route("POST", "/api/sessions/{session}/start", start_session, "Start a session", TAG,
          _info("the session", 201), errors=(404, 503)),
    Route("POST", "/api/sessions/{session}/stop", stop_session, "Stop a session", TAG,
          _info("the session", 201), errors=(404, 503)),
    Route("POST", "/api/sessions/{session}/restart", restart_session, "Restart a session", TAG,
          _info("the session", 201), errors=(404, 503)),
    Route("POST", "/api/sessions/{session}/logout", logout_session, "Log a live session out",
          TAG, _info("the session, started again to wait for a new login", 201),
          body=SessionLogoutBody, errors=(404, 409, 429, 501, 503, 504),
          description="The bridge logs the account out and removes its auth state; the "
                      "session is started again (a new QR code). 422 for a session that "
                      "replays a recording."),
]
