"""WEBJS presence from WAHA's tag events (mapping doc §6.5, WAHA ``presence.ts``).

``tag:presence``: ``id = participant = toCusFormat(jid(attrs.from))``; ``offline`` when
``attrs.type`` is ``unavailable``, else ``online``; ``lastSeen`` is ``+attrs.last`` unless it
is missing or ``deny``.

``tag:chatstate``: ``id`` is the chat (the group for group chatstates), ``participant`` the
typer (``attrs.participant``, else ``attrs.from``); the first child's tag gives the state
(``composing`` typing, ``paused`` paused, ``available`` online, anything else offline) and a
child with ``media="audio"`` means recording. ``lastSeen`` is always ``null``.

Bad input (§3): a node that is not an object, ``attrs`` that is not an object, an
``attrs.from`` that is not a JID node, and a chatstate without ``content`` children.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.payloads import PresenceEntry, PresencePayload
from engines.common.records import BadRecord
from engines.common.waha import to_cus_format
from engines.webjs.jids import node_jid
from engines.webjs.jsvalues import get, object_or_bad, truthy, type_name, unary_plus

_CHATSTATE = {"composing": "typing", "paused": "paused", "available": "online",
              "unavailable": "offline"}


def _attrs_and_from(node: Any, what: str) -> tuple[dict[str, Any], str]:
    node = object_or_bad(node, what)
    attrs = object_or_bad(node.get("attrs", UNSET), f"{what} attrs")
    chat = node_jid(attrs.get("from", UNSET), f"{what} attrs.from")
    if not chat:
        raise BadRecord(f"{what}: attrs.from is missing")
    return attrs, chat


def presence_from_tag(node: Any) -> PresencePayload:
    attrs, jid = _attrs_and_from(node, "tag:presence")
    chat = to_cus_format(jid)
    last = attrs.get("last", UNSET)
    last_seen = unary_plus(last) if truthy(last) and last != "deny" else None
    state = "offline" if attrs.get("type") == "unavailable" else "online"
    return PresencePayload(id=chat, presences=[
        PresenceEntry(participant=chat, lastKnownPresence=state, lastSeen=last_seen)])


def presence_from_chatstate(node: Any) -> PresencePayload:
    attrs, jid = _attrs_and_from(node, "tag:chatstate")
    participant = node_jid(attrs.get("participant", UNSET), "tag:chatstate attrs.participant")
    content = node.get("content", UNSET)
    if not isinstance(content, list) or not content:
        raise BadRecord(f"tag:chatstate: a chatstate node needs content children, "
                        f"got {type_name(content)}")
    first = content[0]
    if not isinstance(first, dict):
        raise BadRecord(f"tag:chatstate: the first child must be a node, got {type_name(first)}")
    tag = first.get("tag")
    state = _CHATSTATE.get(tag, "offline") if isinstance(tag, str) else "offline"
    if get(first.get("attrs"), "media") == "audio":
        state = "recording"
    return PresencePayload(id=to_cus_format(jid), presences=[PresenceEntry(
        participant=to_cus_format(participant if truthy(participant) else jid),
        lastKnownPresence=state, lastSeen=None)])
