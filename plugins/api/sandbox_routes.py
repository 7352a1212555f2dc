"""The sandbox's own routes (hookwire's, not WAHA's): inject a message into a sandbox session
as if someone sent it, and download what the session emitted as a recording (JSONL of native
records, the engine's shape: replay it, or seed another sandbox with it)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from core.engine import CommandError, SandboxTarget
from plugins.api.errors import ApiError, json_response
from plugins.api.routes import Call, Response, Route
from plugins.api.send_models import InboundMessage, InboundResult
from plugins.api.session_commands import COMMAND_STATUS


def sandbox_of(call: Call) -> SandboxTarget:
    name = call.path("session")
    manager = call.api.manager
    manager.require_running(name)
    target = manager.engine_session(name)
    if not isinstance(target, SandboxTarget):
        raise ApiError(422, "not_sandbox", f"session {name!r} is not a sandbox: create it with "
                       '"config": {"source": "sandbox"}')
    return target


async def inject(call: Call) -> web.StreamResponse:
    body: InboundMessage = call.body
    target = sandbox_of(call)
    if body.from_.endswith("@g.us") and not body.participant:
        raise ApiError(422, "invalid_body", "a message from a group needs `participant` (who "
                       "sent it)", "$.participant")
    if body.media is None and body.reaction is None and not body.text:
        raise ApiError(422, "invalid_body", "give `text`, `media` or `reaction`", "$.text")
    args = msgspec.to_builtins(body)
    try:
        message_id = await target.inject(args)
    except CommandError as exc:
        raise ApiError(COMMAND_STATUS.get(exc.code, 422), exc.code, exc.message) from None
    return json_response(InboundResult(id=message_id), 201)


async def recording(call: Call) -> web.StreamResponse:
    target = sandbox_of(call)
    return web.Response(body=target.recording(), content_type="application/x-ndjson",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{call.path("session")}.jsonl"'})


TAG = "sandbox"

ROUTES = [
    Route("POST", "/api/sandbox/{session}/inbound", inject,
          "Inject a message into a sandbox session, as if someone sent it", TAG,
          {201: Response("the message's id, as its webhooks carry it", InboundResult)},
          body=InboundMessage, errors=(404,),
          description="`from` (a contact, or a group with `participant`), and `text`, "
                      "`media` ({mimetype, filename}) or `reaction` ({messageId, text}); "
                      "`reply_to` quotes a message. It arrives as `message` and "
                      "`message.any` webhooks (a reaction as `message.reaction`)."),
    Route("GET", "/api/sandbox/{session}/recording", recording,
          "Everything the sandbox session emitted, as a recording (JSONL)", TAG,
          {200: Response("native records, one JSON object a line", media="application/x-ndjson",
                         schema={"type": "string"})}, errors=(404,)),
]
