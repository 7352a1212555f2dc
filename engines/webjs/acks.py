"""WEBJS acks: ``message_ack`` → ``message.ack`` (DMs) and ``tag:receipt`` → ``message.ack.group``.

``message.ack`` (mapping doc §6.3, §11.2): the full message payload with ``media: null``, the
ack read from ``msg.ack`` and, only when the message has none, from the event's ``ack``
argument. Emitted only when ``to`` is neither a group nor ``status@broadcast``.

``message.ack.group`` follows WAHA's ``TagReceiptNodeToReceiptEvent`` and
``TagReceiptToMessageAck``: the receipt type gives the Baileys status (none → delivery 3,
``sender`` → 2, ``read``/``read-self`` → 4, ``played`` → 5, any other type → no ack); one ack
per message id in the node (``attrs.id`` plus the ``item`` children of the first child); only
group and status chats; ``fromMe`` inverted on purpose; ``participant`` is the reader. A node
without a ``participant`` attribute in a group is a grouped receipt: one ack per ``user`` of
each ``participants`` child (this part follows WAHA's newer ``ack.webjs.ts``).

Both pass WAHA's ``DistinctAck`` (``{id}-{ack}-{participant}`` within 60 s). The caller
checks and commits the keys, so a bad record leaves the de-duplication state alone.

A group receipt needs the session's own JID (``me_id``, or ``me_lid`` for ``@lid`` chats) to
build the message id; without it WAHA's mapper throws. Here such a receipt yields no ack and
a warning, and is not counted as bad input (the record itself is fine).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from msgspec import UNSET

from core.payloads import MessagePayload
from engines.common.records import BadRecord
from engines.common.waha import to_cus_format
from engines.webjs.jids import (
    are_jids_same_user,
    is_group,
    is_status_broadcast,
    jid_normalized_user,
    node_jid,
)
from engines.webjs.jsvalues import get, object_or_bad, str_or_bad, template, type_name
from engines.webjs.messages import to_wa_message, webjs_ack_name

#: Baileys ``getStatusFromReceiptType``; a missing type is a delivery receipt.
_RECEIPT_STATUS = {"sender": 2, "played": 5, "read": 4, "read-self": 4}
_DELIVERY_ACK = 3


def ack_key(payload: MessagePayload) -> str:
    """WAHA's ``DistinctAck`` key ``${id}-${ack}-${participant}``."""
    return f"{payload.id}-{template(payload.ack)}-{template(payload.participant)}"


def dm_ack(args: list[Any]) -> MessagePayload | None:
    """``message_ack(msg, ack)`` → the ``message.ack`` payload, or ``None`` for group and
    status chats (they are ``message.ack.group``)."""
    message = args[0]
    fallback = args[1] if len(args) > 1 else UNSET
    has_own_ack = get(message, "ack") not in (UNSET, None)
    payload = to_wa_message(message, "message_ack", ack=UNSET if has_own_ack else fallback)
    if is_group(payload.to) or is_status_broadcast(payload.to):
        return None
    return payload


class Me(NamedTuple):
    id: str | None
    lid: str | None


class MissingMe(Exception):
    """A group receipt that cannot be mapped without the session's own JID."""


def group_acks(node: Any, me: Me) -> list[MessagePayload]:
    """``tag:receipt`` → ``message.ack.group`` payloads (before de-duplication)."""
    node = object_or_bad(node, "tag:receipt")
    attrs = object_or_bad(node.get("attrs", UNSET), "tag:receipt attrs")
    content = node.get("content", UNSET)
    raw_from = node_jid(attrs.get("from", UNSET), "tag:receipt attrs.from")
    if not raw_from:
        raise BadRecord("tag:receipt: attrs.from is missing")
    msg_id = str_or_bad(attrs.get("id", UNSET), "tag:receipt attrs.id")
    if not msg_id:
        raise BadRecord("tag:receipt: attrs.id is missing")
    receipt_type = attrs.get("type", UNSET)
    status: int | None
    if receipt_type is UNSET:
        status = _DELIVERY_ACK
    else:
        status = _RECEIPT_STATUS.get(receipt_type) if isinstance(receipt_type, str) else None
    from_ = jid_normalized_user(raw_from)
    participant = jid_normalized_user(node_jid(attrs.get("participant", UNSET),
                                               "tag:receipt attrs.participant"))
    recipient = jid_normalized_user(node_jid(attrs.get("recipient", UNSET),
                                             "tag:receipt attrs.recipient"))
    ids = [msg_id, *_item_ids(content)]
    if status is None:
        return []  # a receipt type WAHA does not turn into an ack (e.g. retry)
    is_lid = "lid" in from_
    my_jid = me.lid if is_lid else me.id
    is_node_from_me = are_jids_same_user(participant or from_, my_jid)
    remote_jid = from_ if (not is_node_from_me or is_group(from_)) else recipient
    from_me = not recipient
    if status < 2 and is_node_from_me:
        return []
    if not (is_group(remote_jid) or is_status_broadcast(remote_jid)):
        return []  # DM receipts: WAHA's filter keeps only groups and status
    if not my_jid:
        raise MissingMe()
    receipts: list[tuple[str, str, str]] = []  # (message id, key participant, reader)
    if participant:
        key_participant = my_jid if from_me else recipient
        reader = participant if from_me else my_jid
        receipts = [(one_id, key_participant, reader) for one_id in ids]
    else:
        for participant_key, user_jid in _grouped_receipts(content):
            key_participant = my_jid if from_me else user_jid
            reader = user_jid if from_me else my_jid
            receipts.append((participant_key, key_participant, reader))
    return [_ack_payload(remote_jid, from_me, one_id, key_participant, reader, status, node)
            for one_id, key_participant, reader in receipts]


def _ack_payload(remote_jid: str, from_me: bool, msg_id: str, key_participant: str,
                 reader: str, status: int, node: dict[str, Any]) -> MessagePayload:
    chat = to_cus_format(remote_jid)
    key_participant = to_cus_format(key_participant)
    serialized = f"{'true' if from_me else 'false'}_{chat}_{msg_id}"
    if key_participant:
        serialized += f"_{key_participant}"
    ack = status - 1
    return MessagePayload(
        id=serialized,
        from_=chat,
        to=chat if key_participant else UNSET,
        participant=to_cus_format(reader) if reader else UNSET,
        fromMe=not from_me,  # inverted on purpose, as WAHA does
        ack=ack,
        ackName=webjs_ack_name(ack),
        data=node,
    )


def _children(node: Any, tag: str) -> list[dict[str, Any]]:
    """Baileys ``getBinaryNodeChildren``: the children of ``node`` with this tag."""
    content = get(node, "content")
    if not isinstance(content, list):
        return []
    return [child for child in content if isinstance(child, dict) and child.get("tag") == tag]


def _item_ids(content: Any) -> list[str]:
    if not isinstance(content, list) or not content:
        return []
    ids = []
    for item in _children(content[0], "item"):
        item_id = str_or_bad(get(get(item, "attrs"), "id"), "tag:receipt item id")
        if not item_id:
            raise BadRecord("tag:receipt: an item has no id")
        ids.append(item_id)
    return ids


def _grouped_receipts(content: Any) -> list[tuple[str, str]]:
    """``(message id, reader JID)`` pairs of ``participants key=…`` / ``user jid=…`` nodes."""
    if not isinstance(content, list):
        return []
    pairs = []
    for group in content:
        if not isinstance(group, dict) or group.get("tag") != "participants":
            continue
        participant_key = get(get(group, "attrs"), "key")
        if not participant_key:
            continue
        if not isinstance(participant_key, str):
            raise BadRecord(f"tag:receipt participants key: expected a string, "
                            f"got {type_name(participant_key)}")
        for user in _children(group, "user"):
            user_jid = jid_normalized_user(node_jid(get(get(user, "attrs"), "jid"),
                                                    "tag:receipt user jid"))
            if user_jid:
                pairs.append((participant_key, user_jid))
    return pairs
