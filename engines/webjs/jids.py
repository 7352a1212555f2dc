"""JIDs as the WEBJS records carry them, and the Baileys JID rules WAHA's WEBJS code borrows.

Three forms occur (mapping doc §6.2):

- plain strings (``Message.from``, ``GroupNotification.recipientIds`` in the documented form);
- WA Web ``Wid`` objects ``{server, user, _serialized}`` (inside ``_data``, newer
  ``recipientIds``): read by their ``_serialized``;
- binary-node attributes ``{"$1": {user, server?, domainType?, device?}}`` in ``tag:*`` nodes,
  read like WAHA's ``jid()`` in ``ack.webjs.ts`` (**guessed** record encoding).

``jid_decode``/``jid_normalized_user``/``are_jids_same_user`` follow Baileys' ``jid-utils``
behaviour, which WAHA calls on receipts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from msgspec import UNSET

from engines.common.records import BadRecord
from engines.webjs.jsvalues import template, truthy, type_name


def wid_string(value: Any, what: str) -> Any:
    """A JID string, or a Wid object read by its ``_serialized``; ``None``/``UNSET`` pass."""
    if value is UNSET or value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("_serialized"), str):
        return value["_serialized"]
    raise BadRecord(f"{what}: expected a JID string or a Wid object, got {type_name(value)}")


def node_jid(field: Any, what: str) -> Any:
    """WAHA's ``jid(field)`` for a binary-node attribute.

    A falsy field is returned as it is (``UNSET`` when absent). ``{"$1": {...}}`` becomes
    ``user[:device]@server``, the server defaulting to ``s.whatsapp.net`` for ``domainType``
    0 or 128 and to ``lid`` otherwise. Any other shape is bad input: WAHA would read it as
    ``undefined`` or build a JID with no user, both of which end in a payload without an id.
    """
    if not truthy(field):
        return field
    data = field.get("$1") if isinstance(field, dict) else None
    if not isinstance(data, dict):
        raise BadRecord(f"{what}: expected a JID node {{\"$1\": {{user, server}}}}, "
                        f"got {type_name(field)}")
    user = data.get("user", UNSET)
    if not (isinstance(user, str) or (isinstance(user, int) and not isinstance(user, bool))
            or user is UNSET or user is None):
        raise BadRecord(f"{what}: JID user must be a string, got {type_name(user)}")
    server = data.get("server", UNSET)
    if server is not UNSET and server is not None and not isinstance(server, str):
        raise BadRecord(f"{what}: JID server must be a string, got {type_name(server)}")
    if not server:
        server = "s.whatsapp.net" if data.get("domainType") in (0, 128) else "lid"
    device = data.get("device", UNSET)
    user_part = template(user) if truthy(user) else ""
    device_part = f":{template(device)}" if truthy(device) else ""
    return f"{user_part}{device_part}@{server}"


class DecodedJid(NamedTuple):
    user: str
    server: str
    device: str | None


def jid_decode(jid: Any) -> DecodedJid | None:
    """Baileys ``jidDecode``: ``user[_agent][:device]@server``; ``None`` without ``@``."""
    if not isinstance(jid, str) or "@" not in jid:
        return None
    user_combined, server = jid.split("@", 1)
    user_agent, _, device = user_combined.partition(":")
    return DecodedJid(user_agent.split("_", 1)[0], server, device or None)


def jid_normalized_user(jid: Any) -> str:
    """Baileys ``jidNormalizedUser``: no device or agent, ``c.us`` as ``s.whatsapp.net``;
    ``''`` for what does not decode."""
    decoded = jid_decode(jid)
    if decoded is None:
        return ""
    server = "s.whatsapp.net" if decoded.server == "c.us" else decoded.server
    return f"{decoded.user}@{server}"


def are_jids_same_user(first: Any, second: Any) -> bool:
    """Baileys ``areJidsSameUser``: ``jidDecode(a)?.user === jidDecode(b)?.user``."""
    a, b = jid_decode(first), jid_decode(second)
    return (a.user if a else None) == (b.user if b else None)


def is_group(jid: Any) -> bool:
    return isinstance(jid, str) and jid.endswith("@g.us")


def is_status_broadcast(jid: Any) -> bool:
    return isinstance(jid, str) and jid == "status@broadcast"
