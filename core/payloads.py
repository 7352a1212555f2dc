"""Typed payloads of the normalized (WAHA) events.

Shapes follow ``engine-mapping.md`` §5. WAHA serializes with ``JSON.stringify``, so a key
is sometimes absent and sometimes ``null``: a field whose default is ``UNSET`` is left out of
the JSON when the translator does not set it, and ``None`` is written as ``null``. Every
field has a default so that new fields can be added without breaking decoding
(msgspec schema evolution). ``_data`` carries the raw engine object unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType, field


class Payload(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base of payload Structs (no fields)."""


class Media(Payload):
    url: str | None = None
    filename: str | None = None
    mimetype: str | None | UnsetType = None
    error: Any | UnsetType = UNSET


class Location(Payload):
    live: bool = False
    latitude: Any = None  # WEBJS numbers, NOWEB strings (kept as WAHA sends them)
    longitude: Any = None
    name: str | None | UnsetType = UNSET
    address: str | None | UnsetType = UNSET
    url: str | None | UnsetType = UNSET
    description: str | None | UnsetType = UNSET
    thumbnail: str | None | UnsetType = UNSET


class ReplyTo(Payload):
    id: str | None | UnsetType = UNSET
    participant: str | None | UnsetType = UNSET
    body: str | None | UnsetType = UNSET
    data: Any | UnsetType = field(default=UNSET, name="_data")


class MessagePayload(Payload):
    """``WAMessage``: the payload of ``message``, ``message.any``, ``message.waiting``, the
    WEBJS ``message.ack`` (full message) and, with ``editedMessageId``, ``message.edited``.

    The NOWEB ``message.ack`` sets only ``id, from, to?, participant?, fromMe, ack, ackName``.
    """

    id: str | UnsetType = UNSET
    timestamp: int | float | None | UnsetType = UNSET
    from_: str | None | UnsetType = field(default=UNSET, name="from")
    fromMe: bool | UnsetType = UNSET
    source: str | UnsetType = UNSET
    to: str | None | UnsetType = UNSET
    participant: str | None | UnsetType = UNSET
    body: str | None | UnsetType = UNSET
    hasMedia: bool | UnsetType = UNSET
    media: Media | None | UnsetType = UNSET
    ack: int | None | UnsetType = UNSET
    ackName: str | UnsetType = UNSET
    location: Location | None | UnsetType = UNSET
    vCards: list[Any] | None | UnsetType = UNSET
    replyTo: ReplyTo | None | UnsetType = UNSET
    editedMessageId: str | None | UnsetType = UNSET
    data: Any | UnsetType = field(default=UNSET, name="_data")


class ReactionBody(Payload):
    text: str | UnsetType = ""
    messageId: str | None = None


class ReactionPayload(Payload):
    id: str | UnsetType = UNSET
    from_: str | None | UnsetType = field(default=UNSET, name="from")
    fromMe: bool | UnsetType = UNSET
    source: str | UnsetType = UNSET
    participant: str | None | UnsetType = UNSET
    to: str | None | UnsetType = UNSET
    timestamp: int | float | None | UnsetType = UNSET
    reaction: ReactionBody = field(default_factory=ReactionBody)


class RevokedPayload(Payload):
    after: MessagePayload | None = None
    before: MessagePayload | None = None
    revokedMessageId: str | None | UnsetType = None
    data: Any | UnsetType = field(default=UNSET, name="_data")


class PresenceEntry(Payload):
    participant: str | None = None
    lastKnownPresence: str = "offline"
    lastSeen: int | float | None = None


class PresencePayload(Payload):
    id: str | None = None
    presences: list[PresenceEntry] = field(default_factory=list)


class StatusHistoryEntry(Payload):
    status: str
    timestamp: int


class SessionStatusPayload(Payload):
    name: str
    status: str
    statuses: list[StatusHistoryEntry] = field(default_factory=list)


class GroupId(Payload):
    id: str


class GroupParticipant(Payload):
    id: str | None = None
    pn: str | None | UnsetType = UNSET
    role: str | None | UnsetType = UNSET


class GroupV2ParticipantsPayload(Payload):
    group: GroupId
    type: str | None | UnsetType = UNSET
    timestamp: int | float | None | UnsetType = None
    participants: list[GroupParticipant] = field(default_factory=list)
    data: Any | UnsetType = field(default=UNSET, name="_data")


class GroupV2LeavePayload(Payload):
    group: GroupId
    timestamp: int | float | None | UnsetType = None
    data: Any | UnsetType = field(default=UNSET, name="_data")


class GroupV2JoinPayload(Payload):
    group: Any = None
    timestamp: int | float | None = None
    data: Any | UnsetType = field(default=UNSET, name="_data")


class EngineEventPayload(Payload):
    """``engine.event``: the raw native event, for debugging (opt-in only)."""

    # Not called ``event``: that name is the envelope's tag field.
    native_event: str = field(name="event")
    data: Any = None


# ``group.join``/``group.leave`` (v1) carry the raw GroupNotification (WEBJS) or GroupMetadata
# (NOWEB); ``state.change`` carries a WAState string (WEBJS) or the raw connection update
# (NOWEB). Those, and events whose payloads the mapping does not detail, are ``Any``.
RawPayload = Any
