"""Payloads of events whose shape ``core.payloads`` leaves open (``Any`` in the catalogue):
``poll.vote``, ``chat.archive`` and ``call.received`` as WAHA's WEBJS engine builds them.

Fields left ``UNSET`` are omitted from the JSON, like WAHA's ``undefined``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType, field


class MessageDestination(msgspec.Struct, kw_only=True):
    """WAHA ``getDestination(key, meId)``: ``{id, to, from, fromMe}``."""

    id: str
    to: str | UnsetType | None = UNSET
    from_: str | UnsetType | None = field(default=UNSET, name="from")
    fromMe: bool | UnsetType = UNSET


class PollVote(MessageDestination, kw_only=True):
    selectedOptions: list[Any] = field(default_factory=list)
    timestamp: int | float | UnsetType | None = UNSET


class PollVotePayload(msgspec.Struct, kw_only=True):
    """``poll.vote``: ``{poll, vote, _data}``."""

    poll: MessageDestination
    vote: PollVote
    data: Any | UnsetType = field(default=UNSET, name="_data")


class ChatArchivePayload(msgspec.Struct, kw_only=True):
    """``chat.archive``: ``{id, archived, timestamp}``."""

    id: str
    archived: Any | UnsetType = UNSET
    timestamp: int | float | UnsetType | None = UNSET


class CallPayload(msgspec.Struct, kw_only=True):
    """``call.received``: ``{id, from, timestamp, isVideo, isGroup, _data}``."""

    id: Any | UnsetType = UNSET
    from_: str | UnsetType | None = field(default=UNSET, name="from")
    timestamp: int | float | UnsetType | None = UNSET
    isVideo: Any | UnsetType = UNSET
    isGroup: Any | UnsetType = UNSET
    data: Any | UnsetType = field(default=UNSET, name="_data")
