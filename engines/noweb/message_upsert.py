"""``messages.upsert`` → ``presence.update`` (synthetic), ``message``, ``message.any``,
``message.revoked``, ``message.edited``, ``message.reaction``, ``poll.vote.failed`` (§7.3).

Every message of ``data.messages`` is mapped on its own (the upsert ``type`` is not looked at);
a bad one is skipped, logged and counted, the others still map. The order follows WAHA's
listeners: first the synthetic "stopped typing" presences of the whole batch (#379), then the
batch enters the poll store, then each message's events in this order: ``message`` (not from
me), ``message.any``, ``message.revoked``, ``message.edited``, ``message.reaction``,
``poll.vote.failed``. Revokes, edits, reactions and poll votes give only their own event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import UNSET

from core.engine import Emission
from core.payloads import ReactionBody, ReactionPayload, RevokedPayload
from engines.common.records import BadRecord
from engines.noweb.content import (
    REVOKE,
    extract_body,
    is_edited_message,
    is_enum,
    is_real_message,
    normalize_message_content,
    protocol_type,
)
from engines.noweb.js_semantics import ensure_number, js_truthy
from engines.noweb.messages import (
    fix_message,
    from_to_participant,
    is_mine,
    message_id,
    parse_key,
    should_process,
    to_wa_message,
)
from engines.noweb.polls import PollStore, vote_failed_payload
from engines.noweb.presence import PresenceStore, synthetic_online
from engines.noweb.record_shapes import get, need_list, need_object, need_str, present

SkipBad = Callable[[str, int], None]


class PreparedMessage(msgspec.Struct):
    """One good message: its fixed form and its events, computed before any state changes."""

    message: dict[str, Any]
    events: list[Emission]
    poll_vote: tuple[str, Any] | None


def reaction_payload(message: dict[str, Any]) -> ReactionPayload | None:
    """WAHA ``processMessageReaction`` (raw ``reactionMessage``)."""
    reaction = get(message.get("message"), "reactionMessage")
    if not js_truthy(reaction):
        return None
    reaction = need_object(reaction, "message.reactionMessage")
    target = parse_key(reaction.get("key"), "message.reactionMessage.key")
    text = reaction.get("text", UNSET)
    if present(text):
        need_str(text, "message.reactionMessage.text")
    key = message["key"]
    chat, to, participant = from_to_participant(key)
    return ReactionPayload(
        id=message_id(key), from_=chat, fromMe=key.get("fromMe", UNSET), source="app",
        participant=participant, to=to,
        timestamp=ensure_number(message.get("messageTimestamp", UNSET), "messageTimestamp"),
        reaction=ReactionBody(text=text, messageId=message_id(target)),
    )


def revoked_payload(message: dict[str, Any]) -> RevokedPayload | None:
    content = message.get("message")
    if not is_enum(protocol_type(content), REVOKE):
        return None
    revoked_id = get(get(content["protocolMessage"], "key"), "id")
    if present(revoked_id):
        need_str(revoked_id, "message.protocolMessage.key.id")
    return RevokedPayload(after=to_wa_message(message, with_media=False), before=None,
                          revokedMessageId=revoked_id, data=message)


def edited_payload(message: dict[str, Any]) -> Any:
    content = message.get("message")
    if not is_edited_message(content):
        return None
    protocol = normalize_message_content(content)["protocolMessage"]
    edited_id = get(get(protocol, "key"), "id")
    if present(edited_id):
        need_str(edited_id, "protocolMessage.key.id")
    body = extract_body(protocol["editedMessage"])
    return msgspec.structs.replace(to_wa_message(message, with_media=False),
                                   body=body if js_truthy(body) else "",
                                   editedMessageId=edited_id, data=message)


def prepare(item: Any, field: str, me_lid: str | None) -> PreparedMessage:
    message = fix_message(item, field, me_lid)
    events: list[Emission] = []
    if should_process(message):
        payload = to_wa_message(message, with_media=True)
        if not is_mine(message):
            events.append(Emission("message", payload))
        events.append(Emission("message.any", payload))
    for name, build in (("message.revoked", revoked_payload), ("message.edited", edited_payload),
                        ("message.reaction", reaction_payload)):
        payload = build(message)
        if payload is not None:
            events.append(Emission(name, payload))
    return PreparedMessage(message, events, vote_failed_payload(message))


def map_messages_upsert(data: Any, *, me_lid: str | None, presences: PresenceStore,
                        polls: PollStore, skip_bad: SkipBad) -> list[Emission]:
    upsert = need_object(data, "data")
    items = need_list(upsert.get("messages"), "data.messages")
    prepared: list[PreparedMessage] = []
    for index, item in enumerate(items):
        try:
            prepared.append(prepare(item, f"data.messages[{index}]", me_lid))
        except BadRecord as exc:
            skip_bad(exc.reason, index)
        except Exception as exc:  # a mapper bug must not cost the other messages
            skip_bad(f"{type(exc).__name__}: {exc}", index)
    out: list[Emission] = []
    for good in prepared:
        message = good.message
        if is_real_message(message.get("message")) and not is_mine(message):
            chat = message["key"]["remoteJid"]
            participant = message["key"].get("participant")
            out.extend(synthetic_online(presences, chat,
                                        participant if js_truthy(participant) else chat))
    for good in prepared:
        polls.remember(good.message)
    for good in prepared:
        out.extend(good.events)
        if good.poll_vote is not None and polls.options(good.poll_vote[0]) is None:
            out.append(Emission("poll.vote.failed", good.poll_vote[1]))
    return out
