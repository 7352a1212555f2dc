"""WEBJS ``Message`` → WAHA message payloads (mapping doc §5, §6.3, §6.4).

:func:`to_wa_message` is WAHA's ``toWAMessage``: it is shared by ``message``, ``message.any``,
``message.waiting``, ``message.ack``, ``message.revoked`` and ``message.edited``. Only
``message``/``message.any`` carry media (``processIncomingMessage(msg, true)``); with media
download off (hookwire's default, §4.6) that is ``{url: null, filename, mimetype}``.

A ``Message`` that ``toWAMessage`` cannot read (not an object, no ``id``, an ``id._serialized``
that does not split into 3 or 4 parts) or a field of the wrong type is bad input (§3).

Deviation, on purpose: a quoted message's ``author``/``from`` may be a Wid object inside
``_data``; WAHA copies the object into ``replyTo.participant``, we write its ``_serialized``
string (the field is a JID string in WAHA's own DTO), as the doc does for ``recipientIds``.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.payloads import Location, Media, MessagePayload, ReplyTo, RevokedPayload
from engines.common.records import BadRecord
from engines.common.waha import parse_message_id, to_cus_format
from engines.webjs.jids import wid_string
from engines.webjs.jsvalues import (
    bool_or_bad,
    get,
    get_path,
    is_number,
    number_or_bad,
    object_or_bad,
    or_,
    str_or_bad,
    truthy,
    type_name,
)

#: ``source`` is ``api`` only for ids sent through hookwire's API, which does not exist yet.
SOURCE_APP = "app"

_ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}


def webjs_ack_name(ack: Any) -> str:
    """``WAMessageAck[ack] || 'UNKNOWN'`` (a whole-number float indexes like an int)."""
    if is_number(ack) and float(ack).is_integer():
        return _ACK_NAMES.get(int(ack), "UNKNOWN")
    return "UNKNOWN"


def message_key(message: Any, what: str) -> tuple[dict[str, Any], str, str | None]:
    """The ``Message`` object, its ``id._serialized`` and the id's participant part (``None``
    when absent or empty); bad input when ``toWAMessage`` would throw."""
    if not isinstance(message, dict):
        raise BadRecord(f"{what}: expected a Message object, got {type_name(message)}")
    msg_id = message.get("id", UNSET)
    if msg_id is UNSET or msg_id is None:
        raise BadRecord(f"{what}: the message has no id")
    serialized = get(msg_id, "_serialized")
    if serialized is UNSET:
        raise BadRecord(f"{what}: id._serialized is missing (id is {type_name(msg_id)})")
    _, _, _, participant = parse_message_id(serialized)
    return message, serialized, participant or None


def to_wa_message(message: Any, what: str = "message", *, ack: Any = UNSET) -> MessagePayload:
    """WAHA ``toWAMessage`` with ``media: null``. ``ack`` replaces ``message.ack`` when given
    (the ``message_ack`` fallback)."""
    message, serialized, participant = message_key(message, what)
    ack = message.get("ack", UNSET) if ack is UNSET else ack
    number_or_bad(ack, f"{what}.ack")
    body = str_or_bad(message.get("body", UNSET), f"{what}.body")
    return MessagePayload(
        id=serialized,
        timestamp=number_or_bad(message.get("timestamp", UNSET), f"{what}.timestamp"),
        from_=str_or_bad(message.get("from", UNSET), f"{what}.from"),
        fromMe=bool_or_bad(message.get("fromMe", UNSET), f"{what}.fromMe"),
        source=SOURCE_APP,
        to=str_or_bad(message.get("to", UNSET), f"{what}.to"),
        participant=to_cus_format(participant) if participant else UNSET,
        body=body,
        hasMedia=truthy(message.get("hasMedia", UNSET)),
        media=None,
        ack=ack,
        ackName=webjs_ack_name(ack),
        location=extract_location(message, body, what),
        vCards=_vcards(message.get("vCards", UNSET), what),
        replyTo=extract_reply_to(message, what),
        data=message.get("_data", UNSET),
    )


def with_media(payload: MessagePayload, message: dict[str, Any], what: str) -> MessagePayload:
    """``processIncomingMessage(msg, true)`` with download off: media for ``hasMedia``
    messages that are not revoked, ``null`` otherwise."""
    if not truthy(message.get("hasMedia", UNSET)) or message.get("type") == "revoked":
        return payload
    raw = message.get("_data", UNSET)
    filename = str_or_bad(or_(get(raw, "filename"), None), f"{what}._data.filename")
    mimetype = str_or_bad(get(raw, "mimetype"), f"{what}._data.mimetype")
    # ``mimetype`` UNSET (absent in _data) is omitted like WAHA's ``undefined``; Media's
    # annotation lacks UnsetType (reported), msgspec still leaves UNSET out of the JSON.
    payload.media = Media(url=None, filename=filename, mimetype=mimetype)
    return payload


def extract_location(message: dict[str, Any], body: Any, what: str) -> Location | None:
    """``null`` when ``message.location`` is empty (``lodash.isEmpty``), else the WAHA
    location with numeric ``latitude``/``longitude``."""
    location = message.get("location", UNSET)
    if _lodash_is_empty(location):
        return None
    location = object_or_bad(location, f"{what}.location")
    latitude, longitude = location.get("latitude", UNSET), location.get("longitude", UNSET)
    if not (is_number(latitude) and is_number(longitude)):
        raise BadRecord(f"{what}.location: latitude and longitude must be numbers, got "
                        f"{type_name(latitude)} and {type_name(longitude)}")
    raw = message.get("_data", UNSET)
    return Location(
        live=truthy(get(raw, "isLive")),
        latitude=latitude,
        longitude=longitude,
        name=str_or_bad(location.get("name", UNSET), f"{what}.location.name"),
        address=str_or_bad(location.get("address", UNSET), f"{what}.location.address"),
        description=str_or_bad(or_(get(raw, "comment"), location.get("description", UNSET)),
                               f"{what}.location.description"),
        url=str_or_bad(location.get("url", UNSET), f"{what}.location.url"),
        thumbnail=body,
    )


def extract_reply_to(message: dict[str, Any], what: str) -> ReplyTo | Any:
    """``replyTo`` from ``_data.quotedMsg``; absent (``UNSET``) when there is no quote."""
    quoted = get_path(message, "_data", "quotedMsg")
    if not truthy(quoted):
        return UNSET
    return ReplyTo(
        id=str_or_bad(get_path(quoted, "id", "id"), f"{what}._data.quotedMsg.id.id"),
        participant=wid_string(or_(get(quoted, "author"), get(quoted, "from")),
                               f"{what}._data.quotedMsg.author"),
        body=str_or_bad(or_(get(quoted, "caption"), get(quoted, "body")),
                        f"{what}._data.quotedMsg.body"),
        data=quoted,
    )


def revoked_payload(after: Any, before: Any) -> RevokedPayload:
    """``message.revoked``: both sides through ``toWAMessage``; ``revokedMessageId`` from the
    ``after`` message's ``_data.protocolMessageKey.id`` (absent when WAHA's is undefined)."""
    if not isinstance(after, dict):
        raise BadRecord(f"message_revoke_everyone: expected the revoked Message first, "
                        f"got {type_name(after)}")
    after_payload = to_wa_message(after, "after")
    before_payload = to_wa_message(before, "before") if truthy(before) else None
    revoked_id = str_or_bad(get_path(after_payload.data, "protocolMessageKey", "id"),
                            "after._data.protocolMessageKey.id")
    return RevokedPayload(after=after_payload, before=before_payload, revokedMessageId=revoked_id)


def edited_payload(args: list[Any]) -> MessagePayload:
    """``message.edited``: the message payload, ``body`` = the new text, ``editedMessageId`` =
    ``_data.id.id``, ``_data`` = the event ``{message, newBody, prevBody}``."""
    message = args[0]
    payload = to_wa_message(message, "message_edit")
    new_body = str_or_bad(args[1] if len(args) > 1 else UNSET, "message_edit newBody")
    prev_body = str_or_bad(args[2] if len(args) > 2 else UNSET, "message_edit prevBody")
    edited_id = str_or_bad(get_path(payload.data, "id", "id"), "message_edit _data.id.id")
    event: dict[str, Any] = {"message": message}
    if new_body is not UNSET:
        event["newBody"] = new_body
    if prev_body is not UNSET:
        event["prevBody"] = prev_body
    payload.body = new_body
    payload.editedMessageId = edited_id
    payload.data = event
    return payload


def _vcards(value: Any, what: str) -> Any:
    if value is UNSET or value is None or isinstance(value, list):
        return value
    raise BadRecord(f"{what}.vCards: expected an array, got {type_name(value)}")


def _lodash_is_empty(value: Any) -> bool:
    if value is UNSET or value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    return False
