"""Delivery and read receipts (§4.3, §7.3).

* ``messages.update`` item ``{key, update}`` with ``key.fromMe`` and ``update.status != null``
  → ``message.ack`` ``{id, from, to?, participant?, fromMe, ack: status − 1, ackName}`` (no
  ``_data``; group messages are not filtered out); then ``poll.vote`` for ``update.pollUpdates``.
* ``message-receipt.update`` item ``{key, receipt}`` with ``key.fromMe`` → ``message.ack.group``:
  ``receiptTimestamp`` (a delivery) is SERVER (1) — a WAHA quirk we keep —, else
  ``playedTimestamp`` PLAYED, else ``readTimestamp`` READ; ``id`` carries our own JID as its
  participant part, ``participant`` is the reader, ``_data`` the receipt event.

Both go through one ``DistinctAck`` (``{id}-{ack}-{participant}`` once per 60 s); a key is
remembered only when its event is emitted.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.engine import Emission
from core.payloads import MessagePayload
from engines.common.records import BadRecord
from engines.common.waha import DistinctAck, ack_name
from engines.noweb.js_semantics import js_truthy
from engines.noweb.messages import from_to_participant, message_id, parse_key, status_to_ack
from engines.noweb.polls import PollStore, map_poll_updates
from engines.noweb.record_shapes import describe, need_object, present

SERVER, READ, PLAYED = 1, 3, 4


def _distinct(acks: DistinctAck, payload: MessagePayload, name: str) -> list[Emission]:
    participant = None if payload.participant is UNSET else payload.participant
    key = acks.key(payload.id, None if payload.ack is UNSET else payload.ack, participant)
    if acks.is_duplicate(key):
        return []
    acks.accept(key)
    return [Emission(name, payload)]


def ack_payload(item: Any, field: str) -> tuple[dict[str, Any], dict[str, Any], MessagePayload | None]:
    """Check one ``messages.update`` item; return its key, its update and the ``message.ack``
    payload when it is an ack of our own message."""
    entry = need_object(item, field)
    key = parse_key(entry.get("key"), f"{field}.key")
    update = entry.get("update")
    if not isinstance(update, dict):
        raise BadRecord(f"{field}.update: expected an object, got {describe(update)}")
    status = update.get("status")
    if not js_truthy(key.get("fromMe")) or not present(status):
        return key, update, None
    ack = status_to_ack(status, f"{field}.update.status")
    chat, to, participant = from_to_participant(key)
    payload = MessagePayload(id=message_id(key), from_=chat, to=to, participant=participant,
                             fromMe=key.get("fromMe"), ack=ack, ackName=ack_name(ack))
    return key, update, payload


def map_message_update(item: Any, field: str, acks: DistinctAck,
                       polls: PollStore) -> list[Emission]:
    key, update, payload = ack_payload(item, field)
    votes = map_poll_updates(polls, key, update, f"{field}.update")
    out = _distinct(acks, payload, "message.ack") if payload is not None else []
    return out + votes


def receipt_ack(receipt: dict[str, Any]) -> int | Any:
    if js_truthy(receipt.get("receiptTimestamp")):
        return SERVER
    if js_truthy(receipt.get("playedTimestamp")):
        return PLAYED
    if js_truthy(receipt.get("readTimestamp")):
        return READ
    return UNSET


def map_receipt(item: Any, field: str, acks: DistinctAck, me_id: str | None) -> list[Emission]:
    entry = need_object(item, field)
    key = parse_key(entry.get("key"), f"{field}.key")
    receipt = need_object(entry.get("receipt"), f"{field}.receipt")
    if not js_truthy(key.get("fromMe")):
        return []
    ack = receipt_ack(receipt)
    chat, to, participant = from_to_participant(key)
    payload = MessagePayload(
        id=message_id({**key, "participant": me_id}), from_=chat, to=to,
        participant=participant, fromMe=key.get("fromMe"), ack=ack,
        ackName="UNKNOWN" if ack is UNSET else ack_name(ack), data=entry,
    )
    return _distinct(acks, payload, "message.ack.group")
