"""``call`` → ``call.received`` and ``chat_archived`` → ``chat.archive`` (WAHA's WEBJS
``subscribeEngineEvents2``).

- ``call(call)``: ``{id, from, timestamp, isVideo, isGroup, _data: call}``.
- ``chat_archived(chat, currState, prevState)``: ``{id: chat.id._serialized, archived:
  currState, timestamp: chat.timestamp}``.

``call.from`` (whatsapp-web.js's ``peerJid``) is a JID string; should a Wid object arrive, its
``_serialized`` is written (WAHA would copy the object).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from engines.common.records import BadRecord
from engines.webjs.jids import wid_string
from engines.webjs.jsvalues import get, number_or_bad, object_or_bad
from engines.webjs.payloads import CallPayload, ChatArchivePayload


def call_payload(call: Any) -> CallPayload:
    call = object_or_bad(call, "call")
    return CallPayload(
        id=call.get("id", UNSET),
        from_=wid_string(call.get("from", UNSET), "call.from"),
        timestamp=number_or_bad(call.get("timestamp", UNSET), "call.timestamp"),
        isVideo=call.get("isVideo", UNSET),
        isGroup=call.get("isGroup", UNSET),
        data=call,
    )


def chat_archive_payload(args: list[Any]) -> ChatArchivePayload:
    chat = object_or_bad(args[0], "chat_archived chat")
    chat_id = get(chat.get("id", UNSET), "_serialized")
    if not isinstance(chat_id, str) or not chat_id:
        raise BadRecord("chat_archived: chat.id._serialized is missing")
    return ChatArchivePayload(
        id=chat_id,
        archived=args[1] if len(args) > 1 else UNSET,
        timestamp=number_or_bad(chat.get("timestamp", UNSET), "chat_archived chat.timestamp"),
    )
