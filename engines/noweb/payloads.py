"""NOWEB payloads of events whose catalogue payload is untyped (``Any``) in ``core``:
``group.v2.update``, ``poll.vote``/``poll.vote.failed``, ``call.*``, ``label.*``, and the
``GroupInfo`` inside ``group.v2.join``. Shapes as WAHA 2026.2.1 builds them; ``UNSET`` fields are
left out of the JSON (JavaScript ``undefined``).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType, field

from core.payloads import GroupParticipant, Payload


class GroupInfo(Payload):
    """WAHA ``ToGroupInfo`` of a (partial) Baileys ``GroupMetadata``. The names are WAHA's,
    including ``membersCanSendMessages`` carrying ``announce`` as it is."""

    id: Any | UnsetType = UNSET
    subject: Any | UnsetType = UNSET
    description: Any | UnsetType = UNSET
    invite: str | UnsetType = UNSET
    participants: list[GroupParticipant] | UnsetType = UNSET
    membersCanAddNewMember: Any | UnsetType = UNSET
    membersCanSendMessages: Any | UnsetType = UNSET
    newMembersApprovalRequired: Any | UnsetType = UNSET


class GroupV2UpdatePayload(Payload):
    timestamp: int
    group: GroupInfo
    data: Any = field(default=None, name="_data")


class MessageDestination(Payload):
    """WAHA ``getDestination(key)``: ``to`` is ``me`` for a DM from someone else."""

    id: str
    to: Any | UnsetType = UNSET
    from_: Any | UnsetType = field(default=UNSET, name="from")
    fromMe: Any | UnsetType = UNSET


class PollVote(MessageDestination):
    selectedOptions: list[str] = field(default_factory=list)
    timestamp: int | float | None | UnsetType = UNSET


class PollVotePayload(Payload):
    vote: PollVote
    poll: MessageDestination


class CallPayload(Payload):
    """WAHA ``toCallData``; ``timestamp`` in seconds."""

    id: str
    from_: str | None = field(name="from")
    timestamp: int | float
    isVideo: Any | UnsetType = UNSET
    isGroup: Any | UnsetType = UNSET
    data: Any = field(default=None, name="_data")


class LabelPayload(Payload):
    """WAHA ``toLabel``: ``colorHex`` from WhatsApp's 20-colour label palette."""

    id: Any | UnsetType = UNSET
    name: Any | UnsetType = UNSET
    color: Any | UnsetType = UNSET
    colorHex: str | UnsetType = UNSET


class LabelChatAssociationPayload(Payload):
    labelId: Any
    chatId: Any
    label: LabelPayload | None = None
