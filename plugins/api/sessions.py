"""Session routes, at WAHA's paths: list, get, create, update, start, stop, logout, delete,
the QR code and a pairing code."""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from plugins.api.errors import ApiError, json_response
from plugins.api.models import (
    CodeRequested,
    Deleted,
    QrRaw,
    RequestCode,
    SessionCreate,
    SessionInfo,
    SessionUpdate,
)
from plugins.api.qr import qr_png
from plugins.api.routes import Call, Response, Route


class ListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Also sessions that are not running (WAHA's ``all``).
    all: bool = False


class QrQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["image", "raw"] = "image"


async def list_sessions(call: Call) -> web.StreamResponse:
    manager = call.api.manager
    infos = [manager.info(name) for name in manager.names()]
    if not call.query.all:
        infos = [i for i in infos if i.running]
    return json_response(infos)


async def get_session(call: Call) -> web.StreamResponse:
    return json_response(call.api.manager.info(call.path("name")))


async def create_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.create(call.body), status=201)


async def update_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.update(call.path("name"), call.body))


async def start_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.start(call.path("name")))


async def stop_session(call: Call) -> web.StreamResponse:
    return json_response(await call.api.manager.stop(call.path("name")))


async def logout_session(call: Call) -> web.StreamResponse:
    name = call.path("name")
    await call.api.manager.send_command(name, {"cmd": "logout"}, "login to log out of")
    return json_response(call.api.manager.info(name))


async def delete_session(call: Call) -> web.StreamResponse:
    name = call.path("name")
    await call.api.manager.delete(name)
    return json_response(Deleted(name=name))


async def get_qr(call: Call) -> web.StreamResponse:
    name = call.path("session")
    manager = call.api.manager
    if not manager.exists(name):
        raise ApiError(404, "not_found", f"no session {name!r}")
    state = manager.tracker.get(name)
    if state.qr is None or not manager.info(name).running:
        raise ApiError(404, "no_qr", f"session {name!r} is not waiting for a QR scan "
                       f"(status {manager.status(name)})")
    if call.query.format == "raw":
        return json_response(QrRaw(value=state.qr))
    return web.Response(body=qr_png(state.qr), content_type="image/png")


async def request_code(call: Call) -> web.StreamResponse:
    name = call.path("session")
    phone = call.body.phoneNumber
    await call.api.manager.send_command(name, {"cmd": "pairing-code", "phone": phone}, "login")
    return json_response(CodeRequested(
        session=name, phoneNumber=phone,
        detail="requested from the bridge; the code is logged (pairing_code) once WhatsApp "
               "answers: enter it on the phone under Linked devices"), status=202)


def _ok(description: str, type_: object = SessionInfo) -> dict[int, Response]:
    return {200: Response(description, type_)}


ROUTES = [
    Route("GET", "/api/sessions", list_sessions, "List sessions", "sessions",
          {200: Response("the sessions (running ones unless all=true)", list[SessionInfo])},
          query=ListQuery),
    Route("POST", "/api/sessions", create_session, "Create a session (and start it)", "sessions",
          {201: Response("the session", SessionInfo)}, body=SessionCreate, errors=(409, 503),
          description="Webhooks in `config.webhooks` apply to this session only; the session "
                      "and its webhooks are kept across restarts."),
    Route("GET", "/api/sessions/{name}", get_session, "Get a session: status, engine, me, config",
          "sessions", _ok("the session"), errors=(404,)),
    Route("PUT", "/api/sessions/{name}", update_session, "Update a session's config", "sessions",
          _ok("the session"), body=SessionUpdate, errors=(404, 409, 503),
          description="A change of webhooks only takes effect at once, without a restart; any "
                      "other change restarts a running session."),
    Route("DELETE", "/api/sessions/{name}", delete_session, "Stop and delete a session", "sessions",
          _ok("deleted", Deleted), errors=(404, 409, 503)),
    Route("POST", "/api/sessions/{name}/start", start_session, "Start a session", "sessions",
          _ok("the session"), errors=(404, 503)),
    Route("POST", "/api/sessions/{name}/stop", stop_session, "Stop a session", "sessions",
          _ok("the session"), errors=(404, 503)),
    Route("POST", "/api/sessions/{name}/logout", logout_session, "Log a live session out",
          "sessions", _ok("the session"), errors=(404, 409, 503),
          description="Asks the bridge to log out; its auth state is removed and the session "
                      "ends. 422 for a session that replays a recording."),
    Route("GET", "/api/{session}/auth/qr", get_qr, "The QR code to scan", "auth",
          {200: Response("the QR code: a PNG image, or with format=raw its text", QrRaw,
                         also={"image/png": {"type": "string", "format": "binary"}})},
          query=QrQuery, errors=(404,)),
    Route("POST", "/api/{session}/auth/request-code", request_code, "Request a pairing code",
          "auth", {202: Response("asked; the code is in the logs", CodeRequested)},
          body=RequestCode, errors=(404, 409, 503)),
]
