"""One Baileys ``WebMessageInfo`` → WAHA's message payload (§5, §7.2, §7.5, §7.9).

``fix_message`` applies WAHA's ``fixMessages`` to a copy (the record itself is never changed):
a missing ``status`` becomes DELIVERY_ACK (3, so ``ack: 2`` DEVICE) and a message whose
``key.participant`` is our own LID becomes ``fromMe`` (#1350). ``_data`` carries that copy.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.payloads import MessagePayload
from engines.common.records import BadRecord
from engines.common.waha import ack_name, build_message_id, to_cus_format
from engines.noweb.content import (
    EPHEMERAL_SYNC_RESPONSE,
    PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE,
    REVOKE,
    extract_body,
    extract_location,
    extract_media_content,
    extract_reply_to,
    extract_vcards,
    get_content_type,
    is_edited_message,
    is_enum,
    is_history_sync_notification,
    media_of,
    normalize_message_content,
    protocol_type,
)
from engines.noweb.js_semantics import ensure_number, is_number, js_truthy
from engines.noweb.record_shapes import (
    describe,
    get,
    need_object,
    need_str,
    optional_bool,
    optional_object,
    optional_str,
    present,
)

#: ``WebMessageInfo.Status.DELIVERY_ACK``: what ``fixMessages`` gives a message without status.
DELIVERY_ACK = 3


def parse_key(value: Any, field: str) -> dict[str, Any]:
    """A ``WAMessageKey``: ``remoteJid`` and ``id`` text, ``fromMe`` boolean, ``participant``
    text; absent and ``null`` allowed where Baileys allows them."""
    key = need_object(value, field)
    need_str(key.get("remoteJid"), f"{field}.remoteJid")
    need_str(key.get("id"), f"{field}.id")
    optional_bool(key.get("fromMe", UNSET), f"{field}.fromMe")
    optional_str(key.get("participant", UNSET), f"{field}.participant")
    return key


def message_id(key: dict[str, Any]) -> str:
    """WAHA ``buildMessageId(key)``."""
    return build_message_id(key.get("fromMe"), key["remoteJid"], key["id"], key.get("participant"))


def from_to_participant(key: dict[str, Any]) -> tuple[str, Any, Any]:
    """WAHA ``getFromToParticipant`` in ``@c.us`` form: ``from`` is always the chat; ``to`` (the
    chat) and ``participant`` exist only when ``key.participant`` is set (groups, status)."""
    chat = to_cus_format(key["remoteJid"])
    participant = key.get("participant")
    if js_truthy(participant):
        return chat, chat, to_cus_format(participant)
    return chat, UNSET, UNSET


def status_to_ack(status: Any, field: str) -> int | float:
    """WAHA ``StatusToAck``: ``status − 1``."""
    if not is_number(status):
        raise BadRecord(f"{field}: expected a number, got {describe(status)}")
    ack = status - 1
    return int(ack) if isinstance(ack, float) and ack.is_integer() else ack


def fix_message(item: Any, field: str, me_lid: str | None) -> dict[str, Any]:
    """Check one upserted message and return WAHA's ``fixMessages`` view of it (a copy)."""
    raw = need_object(item, field)
    key = parse_key(raw.get("key", UNSET), f"{field}.key")
    optional_object(raw.get("message", UNSET), f"{field}.message")
    status = raw.get("status", UNSET)
    if present(status):
        status_to_ack(status, f"{field}.status")
    ensure_number(raw.get("messageTimestamp", UNSET), f"{field}.messageTimestamp")
    fixed = dict(raw)
    fixed["status"] = status if present(status) else DELIVERY_ACK
    if me_lid is not None and key.get("participant") == me_lid:
        fixed["key"] = {**key, "fromMe": True}
    return fixed


def is_mine(message: dict[str, Any]) -> bool:
    return js_truthy(message["key"].get("fromMe"))


def should_process(message: dict[str, Any]) -> bool:
    """WAHA ``shouldProcessIncomingMessage`` (§7.5): whether it gives ``message``/``message.any``."""
    content = message.get("message")
    if not js_truthy(content):
        return False
    if any(js_truthy(content.get(k)) for k in ("reactionMessage", "pollUpdateMessage")):
        return False
    if js_truthy(get(get(content, "call"), "callKey")):
        return False
    raw_type = protocol_type(content)
    if is_enum(raw_type, REVOKE):
        return False
    if is_edited_message(content) or is_history_sync_notification(content):
        return False
    if is_enum(raw_type, EPHEMERAL_SYNC_RESPONSE) or \
            is_enum(raw_type, PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE):
        return False
    kind = get_content_type(normalize_message_content(content))
    if kind == "deviceSentMessage":
        return False
    return not (kind is None and js_truthy(content.get("senderKeyDistributionMessage")))


def to_wa_message(message: dict[str, Any], *, with_media: bool) -> MessagePayload:
    """WAHA ``toWAMessage`` (plus the media step of ``processIncomingMessage`` when
    ``with_media``; otherwise ``media`` is ``null`` as in revoked and edited payloads)."""
    key = message["key"]
    content = message.get("message", UNSET)
    chat, to, participant = from_to_participant(key)
    ack = status_to_ack(message["status"], "status")
    body = extract_body(content)
    return MessagePayload(
        id=message_id(key),
        timestamp=ensure_number(message.get("messageTimestamp", UNSET), "messageTimestamp"),
        from_=chat,
        fromMe=key.get("fromMe", UNSET),
        source="app",
        body=body if js_truthy(body) else None,
        to=to,
        participant=participant,
        hasMedia=extract_media_content(content) is not None,
        media=media_of(content) if with_media else None,
        ack=ack,
        ackName=ack_name(ack),
        location=extract_location(content),
        vCards=extract_vcards(content),
        replyTo=extract_reply_to(content),
        data=message,
    )
