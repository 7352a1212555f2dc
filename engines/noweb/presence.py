"""``presence.update`` → ``presence.update`` (§7.6), and the presence store behind WAHA's
synthetic "stopped typing" presence (#379, §7.2).

Baileys' in-memory store keeps, per chat JID, the last ``PresenceData`` of each participant
(``Object.assign``: a new entry replaces the participant's old one). When a real message arrives
from someone whose last presence in that chat is ``composing``, WAHA emits an extra
``presence.update`` with ``available`` (``online``) before the message's own events, and that
synthetic update goes into the store as well. The store is bounded (least recently updated
chats are forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from core.engine import Emission
from core.payloads import PresenceEntry, PresencePayload
from engines.common.records import BadRecord
from engines.common.waha import to_cus_format
from engines.noweb.js_semantics import is_number, js_truthy
from engines.noweb.record_shapes import describe, need_object, need_str

#: Baileys ``WAPresence`` → WAHA; anything else passes through unchanged.
PRESENCE_NAMES = {
    "unavailable": "offline",
    "available": "online",
    "composing": "typing",
    "recording": "recording",
    "paused": "paused",
}

PresenceUpdate = tuple[str, dict[str, dict[str, Any]]]


def parse_presence_update(data: Any) -> PresenceUpdate:
    """Check a ``presence.update`` argument: ``{id, presences: {jid: {lastKnownPresence,
    lastSeen?}}}``. A missing ``id``, ``presences`` that is not an object, or an entry without a
    text ``lastKnownPresence`` is bad input (§3, §11.6)."""
    update = need_object(data, "data")
    chat = need_str(update.get("id"), "data.id")
    presences = need_object(update.get("presences"), "data.presences")
    for participant, value in presences.items():
        entry = need_object(value, f"data.presences[{participant!r}]")
        need_str(entry.get("lastKnownPresence"), f"data.presences[{participant!r}].lastKnownPresence")
        last_seen = entry.get("lastSeen")
        if js_truthy(last_seen) and not is_number(last_seen):
            raise BadRecord(f"data.presences[{participant!r}].lastSeen: expected a number, "
                            f"got {describe(last_seen)}")
    return chat, presences


def to_waha_presences(chat: str, presences: dict[str, dict[str, Any]]) -> PresencePayload:
    """WAHA ``toWahaPresences``: one entry per participant, in key order."""
    entries = []
    for participant, value in presences.items():
        native = value["lastKnownPresence"]
        last_seen = value.get("lastSeen")
        entries.append(PresenceEntry(
            participant=to_cus_format(participant),
            lastKnownPresence=PRESENCE_NAMES.get(native, native),
            lastSeen=last_seen if js_truthy(last_seen) else None,
        ))
    return PresencePayload(id=to_cus_format(chat), presences=entries)


class PresenceStore:
    """The last presence per chat and participant, keyed by the raw (Baileys) JIDs."""

    def __init__(self, max_chats: int = 10_000) -> None:
        self.max_chats = max_chats
        self._chats: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()

    def last_presence(self, chat: str, participant: str) -> Any:
        return self._chats.get(chat, {}).get(participant, {}).get("lastKnownPresence")

    def apply(self, chat: str, presences: dict[str, dict[str, Any]]) -> None:
        stored = self._chats.setdefault(chat, {})
        stored.update(presences)
        self._chats.move_to_end(chat)
        while len(self._chats) > self.max_chats:
            self._chats.popitem(last=False)

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """A copy, for tests that check a bad record left the store alone."""
        return {chat: dict(entries) for chat, entries in self._chats.items()}


def map_presence_update(store: PresenceStore, data: Any) -> list[Emission]:
    chat, presences = parse_presence_update(data)
    payload = to_waha_presences(chat, presences)
    store.apply(chat, presences)
    return [Emission("presence.update", payload)]


def synthetic_online(store: PresenceStore, chat: str, participant: str) -> list[Emission]:
    """#379: the ``available`` presence WAHA issues for a participant who was typing."""
    if store.last_presence(chat, participant) != "composing":
        return []
    presences = {participant: {"lastKnownPresence": "available"}}
    store.apply(chat, presences)
    return [Emission("presence.update", to_waha_presences(chat, presences))]
