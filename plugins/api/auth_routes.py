"""Logging a session in, as WAHA has it: the QR code (PNG, raw text, or base64 JSON with
``Accept: application/json``), a pairing code returned in the answer, and the profile."""

from __future__ import annotations

import base64
from typing import Literal

import msgspec
from aiohttp import web

from plugins.api.errors import ApiError, json_response
from plugins.api.qr import qr_png
from plugins.api.routes import Call, Response, Route
from plugins.api.session_commands import me, request_code
from plugins.api.session_models import Base64File, MyProfile, PairingCode, QrRaw, RequestCode

#: How long a QR request waits for the session to show one (WAHA: 5 s).
QR_WAIT_SECONDS = 5.0


class QrQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["image", "raw"] = "image"


def wants_json(request: web.Request) -> bool:
    """WAHA answers JSON when asked for it: ``Accept: application/json`` (and not PNG)."""
    accept = request.headers.get("Accept", "").lower()
    return "application/json" in accept and "image/png" not in accept


async def get_qr(call: Call) -> web.StreamResponse:
    name = call.path("session")
    manager = call.api.manager
    manager.require_running(name)

    def settled() -> bool:  # a QR to show, or a status that will not bring one soon
        status = manager.status(name)
        has_qr = manager.tracker.get(name).qr is not None
        return (status == "SCAN_QR_CODE" and has_qr) or status not in ("STARTING", "SCAN_QR_CODE")

    await manager.tracker.wait_until(settled, QR_WAIT_SECONDS)
    if manager.status(name) != "SCAN_QR_CODE" or manager.tracker.get(name).qr is None:
        raise ApiError(422, "not_scan_qr_code", f"session {name!r} is not waiting for a QR scan "
                       f"(status {manager.status(name)}, expected SCAN_QR_CODE); try again later "
                       "or restart the session")
    qr = manager.tracker.get(name).qr
    assert qr is not None
    if call.query.format == "raw":
        return json_response(QrRaw(value=qr))
    png = qr_png(qr)
    if wants_json(call.request):
        return json_response(Base64File(mimetype="image/png", data=base64.b64encode(png).decode()))
    return web.Response(body=png, content_type="image/png")


async def post_request_code(call: Call) -> web.StreamResponse:
    body: RequestCode = call.body
    if body.method:
        raise ApiError(422, "unsupported", f"method {body.method!r}: registering a phone number "
                       "by SMS or voice is not supported; leave `method` empty to pair",
                       "$.method")
    code = await request_code(call.api.manager, call.path("session"), body.phoneNumber)
    return json_response(PairingCode(code=code), status=201)


async def get_profile(call: Call) -> web.StreamResponse:
    manager = call.api.manager
    name = call.path("session")
    manager.require_running(name)
    account = await me(manager, name)
    if account is None:
        raise ApiError(422, "not_working", f"session {name!r} has no account yet (status "
                       f"{manager.status(name)}): log it in first")
    return json_response(MyProfile(id=account.id, name=account.pushName, picture=None))


TAG = "auth"

ROUTES = [
    Route("GET", "/api/{session}/auth/qr", get_qr, "The QR code to scan", TAG,
          {200: Response("the QR code: a PNG image; with format=raw its text; with Accept: "
                         "application/json the PNG in base64", one_of=(QrRaw, Base64File),
                         also={"image/png": {"type": "string", "format": "binary"}})},
          query=QrQuery, errors=(404,),
          description="A starting session is given up to 5 s to show a QR code; 422 when "
                      "there is none (logged in already, failed, or still starting)."),
    Route("POST", "/api/{session}/auth/request-code", post_request_code,
          "Request a pairing code (log in with the phone number instead of the QR code)", TAG,
          {201: Response("the code to enter on the phone", PairingCode)}, body=RequestCode,
          errors=(404, 429, 501, 503, 504)),
    Route("GET", "/api/{session}/profile", get_profile, "The session's own profile", "profile",
          {200: Response("the profile", MyProfile)}, errors=(404,)),
]
