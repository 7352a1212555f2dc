"""WAHA's ``config.ignore`` at the engine edge: events of ignored chats are not emitted.

WAHA filters the chat of each native message (``JidFilter.include`` on ``msg.id.remote`` /
``key.remoteJid``) before it becomes an event. Here the same test runs on the chat of each
translated emission of a chat-bound event (messages, acks, reactions, edits, revokes, polls,
presence, archive): ``status`` drops ``status@broadcast``, ``broadcast`` other ``@broadcast``
chats, ``groups`` ``@g.us``, ``channels`` ``@newsletter``. ``session.status``, group
membership events, calls, labels, ``state.change`` and the raw ``engine.event`` are never
dropped. The chat comes from the message id (``{fromMe}_{chat}_{id}[_{participant}]``) where
there is one, else from the payload's chat field.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.config import SessionIgnore
from core.engine import Emission
from core.payloads import MessagePayload, PresencePayload, ReactionPayload, RevokedPayload

#: The events bound to one chat, which ``ignore`` applies to.
CHAT_EVENTS = frozenset({
    "message", "message.any", "message.reaction", "message.ack", "message.ack.group",
    "message.waiting", "message.edited", "message.revoked", "poll.vote", "poll.vote.failed",
    "presence.update", "chat.archive",
})

STATUS_BROADCAST = "status@broadcast"


def chat_of_message_id(value: Any) -> str | None:
    """The chat part of a WAHA message id, or the value itself when it is a bare JID."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith(("true_", "false_")):
        parts = value.split("_")
        return parts[1] if len(parts) >= 3 else None
    return value if "@" in value else None


def chat_of(payload: Any) -> str | None:
    """The chat an event payload belongs to, if it can be told."""
    if isinstance(payload, MessagePayload | ReactionPayload):
        return chat_of_message_id(payload.id) or _first_jid(payload.from_, payload.to)
    if isinstance(payload, RevokedPayload):
        for message in (payload.after, payload.before):
            if message is not None:
                found = chat_of(message)
                if found:
                    return found
        return None
    if isinstance(payload, PresencePayload):
        return payload.id
    if isinstance(payload, dict):
        poll = payload.get("poll")
        if isinstance(poll, dict):
            return chat_of_message_id(poll.get("id")) or _first_jid(poll.get("to"))
        return chat_of_message_id(payload.get("id"))
    return None


def _first_jid(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and "@" in value and value is not UNSET:
            return value
    return None


class IgnoreFilter:
    """Drops the emissions of ignored chats; counts what it dropped."""

    def __init__(self, ignore: SessionIgnore) -> None:
        self.ignore = ignore
        self.active = ignore.status or ignore.groups or ignore.channels or ignore.broadcast
        self.dropped = 0

    def includes_chat(self, jid: str | None) -> bool:
        if not jid:
            return True
        ignore = self.ignore
        if jid == STATUS_BROADCAST:
            return not ignore.status
        if jid.endswith("@broadcast"):
            return not ignore.broadcast
        if jid.endswith("@g.us"):
            return not ignore.groups
        if jid.endswith("@newsletter"):
            return not ignore.channels
        return True

    def drops(self, emission: Emission) -> bool:
        if not self.active or emission.name not in CHAT_EVENTS:
            return False
        if self.includes_chat(chat_of(emission.payload)):
            return False
        self.dropped += 1
        return True
