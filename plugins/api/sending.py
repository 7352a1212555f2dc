"""WAHA's sending routes: text, media, location, contacts, polls, reactions, forwards, edits,
deletes, seen, typing and presence, through the session's engine (:class:`core.engine.
CommandTarget`: a live bridge or a sandbox) with the bridge commands of
:mod:`engines.common.sandbox_args`.

As WAHA: the session is named in the body (``session``, default ``default``) or the path; a
session that does not run is 404, one that is not ``WORKING`` 422 (``Session status is not as
expected``); the answer is the library's result as WAHA returns it, per engine: WEBJS the
whatsapp-web.js ``Message`` (``id._serialized`` is WAHA's ``true_<chat>_<id>``), NOWEB the
Baileys ``WebMessageInfo`` (``key``; WAHA's id is ``true_<chat>_<key.id>``); ``void`` library
calls answer an empty body; ``POST`` answers 201, ``PUT``/``DELETE`` 200 (NestJS). A command
the engine cannot do is 501 naming it. Deliberate difference: WEBJS ``forwardMessage`` answers
``{"sent": true}`` once whatsapp-web.js forwarded it (WAHA answers ``{"sent": false}`` always,
as ``Message.forward`` resolves to nothing).

Media is given by ``file.data`` (base64) or ``file.url``: a URL is fetched through the
delivery service (:meth:`core.delivery.DeliveryService.fetch_untrusted`: the SSRF guard of
webhook targets), at most ``[api] media_max_bytes`` within ``media_fetch_timeout_seconds``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from core.delivery import FetchError
from plugins.api.errors import ApiError, json_response
from plugins.api.routes import Call, Response, Route
from plugins.api.send_models import (
    ChatRequest,
    ContactBody,
    EditMessageRequest,
    FileBody,
    ForwardResult,
    MessageContactVcardRequest,
    MessageFileRequest,
    MessageForwardRequest,
    MessageImageRequest,
    MessageLocationRequest,
    MessagePollRequest,
    MessageReactionRequest,
    MessageTextRequest,
    MessageVideoRequest,
    MessageVoiceRequest,
    SendSeenRequest,
    SessionPresenceRequest,
    TypingResult,
)
from plugins.api.session_commands import send

#: Errors a sending route answers besides the common ones.
SEND_ERRORS = (404, 429, 501, 502, 503, 504)
_DEFAULT_MIME = {"voice": "audio/ogg; codecs=opus", "video": "video/mp4"}


def chat_id(value: str) -> str:
    """WAHA's ``ensureSuffix``: a bare number is a contact, ``…@c.us``."""
    return value if "@" in value else f"{value}@c.us"


def require_working(call: Call, name: str) -> str:
    """The session's engine name; 404 unless it runs, 422 unless it is ``WORKING`` (WAHA)."""
    manager = call.api.manager
    manager.require_running(name)
    status = manager.status(name)
    if status != "WORKING":
        raise ApiError(422, "session_not_working", f"Session status is not as expected. Try "
                       f"again later or restart the session (session {name!r} is {status}, "
                       "expected WORKING)")
    return manager.config_of(name).engine


async def command(call: Call, name: str, cmd: str, args: dict[str, Any]) -> tuple[str, Any]:
    """Run ``cmd`` on the session: (its engine, the library's result)."""
    engine = require_working(call, name)
    # The engine's own timeout: a bridge's HOOKWIRE_BRIDGE_COMMAND_TIMEOUT (30 s by default).
    result = await send(call.api.manager, name, cmd, {k: v for k, v in args.items()
                                                      if v is not None}, "engine to send with",
                        timeout=None)
    return engine, result


def answer(result: Any, status: int) -> web.Response:
    """The library's result; nothing (``void`` in WAHA) is an empty body."""
    return web.Response(status=status) if result is None else json_response(result, status)


def _common(body: Any) -> dict[str, Any]:
    return {"chatId": chat_id(body.chatId), "replyTo": getattr(body, "reply_to", None),
            "mentions": ([chat_id(m) for m in body.mentions]
                         if getattr(body, "mentions", None) else None)}


async def _file(call: Call, file: FileBody, kind: str) -> dict[str, Any]:
    """``{mimetype, filename, data}`` from ``file.data`` or by fetching ``file.url``."""
    config = call.api.config
    if (file.url is None) == (file.data is None):
        raise ApiError(422, "invalid_body", "`file` needs exactly one of `url` (a link to the "
                       "file) and `data` (its bytes, base64)", "$.file")
    mimetype = file.mimetype or _DEFAULT_MIME.get(kind)
    filename = file.filename
    if file.data is not None:
        try:
            size = len(base64.b64decode(file.data, validate=True))
        except (binascii.Error, ValueError):
            raise ApiError(422, "invalid_body", "`file.data` is not base64", "$.file.data") from None
        if size > config.media_max_bytes:
            raise ApiError(422, "invalid_body", f"the file has {size} bytes, more than "
                           f"[api] media_max_bytes ({config.media_max_bytes})", "$.file.data")
        data = file.data
    else:
        delivery = call.api.manager.delivery
        if delivery is None:
            raise ApiError(503, "no_delivery_plugin", "no delivery plugin is loaded: files "
                           "cannot be fetched by URL; send them as `data`", "$.file.url")
        try:
            fetched = await delivery.fetch_untrusted(
                file.url or "", max_bytes=config.media_max_bytes,
                timeout=config.media_fetch_timeout_seconds)
        except FetchError as exc:
            raise ApiError(422, f"file_{exc.kind}", f"the file could not be fetched: "
                           f"{exc.message}", "$.file.url") from None
        data = base64.b64encode(fetched.data).decode()
        mimetype = mimetype or fetched.mimetype
        filename = filename or fetched.filename
    if not mimetype or "/" not in mimetype:
        raise ApiError(422, "invalid_body", "`file.mimetype` is needed (e.g. image/jpeg)",
                       "$.file.mimetype")
    return {"mimetype": mimetype, "data": data, **({"filename": filename} if filename else {})}


def _vcard(contact: ContactBody, index: int) -> str:
    """WAHA's ``toVcard``: the ``vcard`` as given, else one built from the parts."""
    if contact.vcard:
        return contact.vcard
    if not contact.fullName or not contact.phoneNumber:
        raise ApiError(422, "invalid_body", "a contact needs `vcard`, or `fullName` and "
                       "`phoneNumber`", f"$.contacts[{index}]")
    waid = contact.whatsappId or "".join(c for c in contact.phoneNumber if c.isdigit())
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{contact.fullName}"]
    if contact.organization:
        lines.append(f"ORG:{contact.organization};")
    lines += [f"TEL;type=CELL;type=VOICE;waid={waid}:{contact.phoneNumber}", "END:VCARD"]
    return "\n".join(lines)


# -- handlers ----------------------------------------------------------------------------------

async def send_text(call: Call) -> web.StreamResponse:
    body: MessageTextRequest = call.body
    _, result = await command(call, body.session, "send-text", {
        **_common(body), "text": body.text, "linkPreview": body.linkPreview,
        "id": body.id})
    return answer(result, 201)


def _media_route(kind: str) -> Any:
    async def handle(call: Call) -> web.StreamResponse:
        body = call.body
        name = body.session
        require_working(call, name)  # before fetching anything
        file = await _file(call, body.file, kind)
        _, result = await command(call, name, "send-media", {
            **_common(body), "kind": kind, "file": file, "caption": getattr(body, "caption", None),
            "asNote": getattr(body, "asNote", None)})
        return answer(result, 201)

    handle.__name__ = f"send_{kind}"
    return handle


async def send_location(call: Call) -> web.StreamResponse:
    body: MessageLocationRequest = call.body
    _, result = await command(call, body.session, "send-location", {
        **_common(body), "latitude": body.latitude, "longitude": body.longitude,
        "title": body.title})
    return answer(result, 201)


async def send_contact_vcard(call: Call) -> web.StreamResponse:
    body: MessageContactVcardRequest = call.body
    vcards = [_vcard(contact, index) for index, contact in enumerate(body.contacts)]
    _, result = await command(call, body.session, "send-contacts", {**_common(body),
                                                                    "contacts": vcards})
    return answer(result, 201)


async def send_poll(call: Call) -> web.StreamResponse:
    body: MessagePollRequest = call.body
    _, result = await command(call, body.session, "send-poll", {
        **_common(body), "name": body.poll.name, "options": body.poll.options,
        "multipleAnswers": bool(body.poll.multipleAnswers)})
    return answer(result, 201)


async def set_reaction(call: Call) -> web.StreamResponse:
    body: MessageReactionRequest = call.body
    _, result = await command(call, body.session, "react", {"messageId": body.messageId,
                                                            "reaction": body.reaction})
    return answer(result, 200)


async def forward_message(call: Call) -> web.StreamResponse:
    body: MessageForwardRequest = call.body
    engine, result = await command(call, body.session, "forward", {
        "chatId": chat_id(body.chatId), "messageId": body.messageId})
    if result is None and engine == "WEBJS":
        return json_response(ForwardResult(sent=True), 201)
    return answer(result, 201)


async def send_seen(call: Call) -> web.StreamResponse:
    body: SendSeenRequest = call.body
    ids = list(body.messageIds or []) + ([body.messageId] if body.messageId else [])
    _, result = await command(call, body.session, "send-seen", {
        "chatId": chat_id(body.chatId), "messageIds": ids,
        "participant": chat_id(body.participant) if body.participant else None})
    return answer(result, 201)


def _typing(presence: str) -> Any:
    async def handle(call: Call) -> web.StreamResponse:
        body: ChatRequest = call.body
        await command(call, body.session, "presence", {"presence": presence,
                                                       "chatId": chat_id(body.chatId)})
        return json_response(TypingResult(), 201)

    handle.__name__ = "start_typing" if presence == "typing" else "stop_typing"
    return handle


async def edit_message(call: Call) -> web.StreamResponse:
    body: EditMessageRequest = call.body
    _, result = await command(call, call.path("session"), "edit", {
        "chatId": chat_id(call.path("chatId")), "messageId": _path_message_id(call),
        "text": body.text, "linkPreview": body.linkPreview,
        "mentions": [chat_id(m) for m in body.mentions] if body.mentions else None})
    return answer(result, 200)


async def delete_message(call: Call) -> web.StreamResponse:
    _, result = await command(call, call.path("session"), "delete", {
        "chatId": chat_id(call.path("chatId")), "messageId": _path_message_id(call)})
    return answer(result, 200)


def _path_message_id(call: Call) -> str:
    value = call.path("messageId")
    if len(value.split("_")) not in (3, 4):
        raise ApiError(422, "invalid_path", f"{value!r} is not a message id as WAHA writes it "
                       "(true_11111111111@c.us_AAAAAAAAAAAAAAAAAAAA)", "path.messageId")
    return value


async def set_presence(call: Call) -> web.StreamResponse:
    body: SessionPresenceRequest = call.body
    global_scope = body.presence in ("online", "offline")
    if global_scope and body.chatId:
        raise ApiError(400, "bad_request", f"'{body.presence}' presence works on the global "
                       "scope and doesn't require 'chatId' field.", "$.chatId")
    if not global_scope and not body.chatId:
        raise ApiError(400, "bad_request", f"'{body.presence}' presence requires 'chatId' "
                       "field.", "$.chatId")
    _, result = await command(call, call.path("session"), "presence", {
        "presence": body.presence, "chatId": chat_id(body.chatId) if body.chatId else None})
    return answer(result, 201)


# -- routes ------------------------------------------------------------------------------------

TAG = "chatting"
SENT = Response("the sent message, as the engine's library gives it (WEBJS: the "
                "whatsapp-web.js Message, id._serialized = true_<chat>_<id>; NOWEB: the "
                "Baileys WebMessageInfo, WAHA's id = true_<chat>_<key.id>)",
                schema={"type": "object"})
MAYBE_EMPTY = Response("what the library gives back: nothing (an empty body) or, for NOWEB, "
                       "the protocol message it sent (a WebMessageInfo)")


def _route(method: str, path: str, handler: Any, summary: str, body: Any,
           responses: dict[int, Response], tag: str = TAG, description: str = "") -> Route:
    return Route(method, path, handler, summary, tag, responses, body=body,
                 errors=SEND_ERRORS, description=description)


_MEDIA = "`file` is `{mimetype, filename?, url}` (fetched, SSRF-guarded, at most `[api] " \
         "media_max_bytes`) or `{mimetype, filename?, data}` (base64)."

ROUTES = [
    _route("POST", "/api/sendText", send_text, "Send a text message", MessageTextRequest,
           {201: SENT}),
    _route("POST", "/api/sendImage", _media_route("image"), "Send an image", MessageImageRequest,
           {201: SENT}, description=_MEDIA),
    _route("POST", "/api/sendFile", _media_route("file"), "Send a file (a document)",
           MessageFileRequest, {201: SENT}, description=_MEDIA),
    _route("POST", "/api/sendVoice", _media_route("voice"), "Send a voice message",
           MessageVoiceRequest, {201: SENT}, description=_MEDIA),
    _route("POST", "/api/sendVideo", _media_route("video"), "Send a video", MessageVideoRequest,
           {201: SENT}, description=_MEDIA),
    _route("POST", "/api/sendLocation", send_location, "Send a location",
           MessageLocationRequest, {201: SENT}),
    _route("POST", "/api/sendContactVcard", send_contact_vcard, "Send contacts (vCards)",
           MessageContactVcardRequest, {201: SENT}),
    _route("POST", "/api/sendPoll", send_poll, "Send a poll", MessagePollRequest, {201: SENT}),
    _route("POST", "/api/forwardMessage", forward_message, "Forward a message",
           MessageForwardRequest, {201: Response("NOWEB: the sent WebMessageInfo; WEBJS: "
                                                 "{sent: true}", schema={"type": "object"})}),
    _route("POST", "/api/sendSeen", send_seen, "Mark messages as seen", SendSeenRequest,
           {201: Response("done (an empty body)")}),
    _route("POST", "/api/startTyping", _typing("typing"), "Start typing in a chat", ChatRequest,
           {201: Response("typing", TypingResult)}),
    _route("POST", "/api/stopTyping", _typing("paused"), "Stop typing in a chat", ChatRequest,
           {201: Response("stopped", TypingResult)}),
    _route("PUT", "/api/reaction", set_reaction, "React to a message with an emoji",
           MessageReactionRequest, {200: MAYBE_EMPTY}),
    _route("PUT", "/api/{session}/chats/{chatId}/messages/{messageId}", edit_message,
           "Edit a message", EditMessageRequest,
           {200: Response("WEBJS: the edited Message; NOWEB: the edit it sent (a "
                          "WebMessageInfo)", schema={"type": "object"})}, tag="chats"),
    Route("DELETE", "/api/{session}/chats/{chatId}/messages/{messageId}", delete_message,
          "Delete a message for everyone", "chats", {200: MAYBE_EMPTY}, errors=SEND_ERRORS),
    _route("POST", "/api/{session}/presence", set_presence, "Set the session's presence",
           SessionPresenceRequest, {201: Response("done (an empty body)")}, tag="presence",
           description="`online`/`offline` without `chatId`; `typing`, `recording`, `paused` "
                       "in the chat `chatId`."),
]
