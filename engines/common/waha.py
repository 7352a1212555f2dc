"""WAHA's small shared rules (``engine-mapping.md`` §4): JIDs, message ids, acks, ack
de-duplication and the session-status history. Facts from WAHA's behaviour, our own code."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from core.engine import Emission
from core.payloads import SessionStatusPayload, StatusHistoryEntry
from engines.common.records import BadRecord

_UNCHANGED_SUFFIXES = ("@g.us", "@broadcast", "@newsletter")
_DEVICE = re.compile(r":\d+(?=@)")


def to_cus_format(jid: Any) -> Any:
    """``toCusFormat``: ``…@s.whatsapp.net`` (with ``:device``) → ``user@c.us``; groups,
    broadcasts, newsletters and ``me`` unchanged; ``@lid`` loses only ``:device``.
    ``None``/``''`` pass through; a non-string is bad input (WAHA throws)."""
    if jid is None or jid == "":
        return jid
    if not isinstance(jid, str):
        raise BadRecord(f"expected a JID string, got {type(jid).__name__} {jid!r}")
    if jid == "me" or jid.endswith(_UNCHANGED_SUFFIXES):
        return jid
    if jid.endswith("@lid"):
        return _DEVICE.sub("", jid)
    user = jid.split("@", 1)[0].split(":", 1)[0]
    return f"{user}@c.us"


def normalize_jid(jid: Any) -> Any:
    """``normalizeJid``: remove a ``:device`` part before ``@``."""
    if not isinstance(jid, str):
        return jid
    return _DEVICE.sub("", jid)


ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}


def ack_name(ack: Any) -> str:
    return ACK_NAMES.get(ack, "UNKNOWN") if isinstance(ack, int) and not isinstance(ack, bool) else "UNKNOWN"


def parse_message_id(serialized: Any) -> tuple[bool, str, str, str | None]:
    """``parseMessageIdSerialized``: ``{fromMe}_{chat}_{id}[_{participant}]``; bad otherwise."""
    if not isinstance(serialized, str):
        raise BadRecord(f"message id must be a string, got {type(serialized).__name__}")
    parts = serialized.split("_")
    if len(parts) not in (3, 4):
        raise BadRecord(f"message id {serialized!r} does not split into 3 or 4 parts")
    from_me, chat, msg_id = parts[0], parts[1], parts[2]
    participant = parts[3] if len(parts) == 4 else None
    return from_me == "true", chat, msg_id, participant


def build_message_id(from_me: Any, chat: Any, msg_id: Any, participant: Any = None) -> str:
    """``buildMessageId``: the participant part only when truthy."""
    parts = ["true" if from_me else "false", to_cus_format(chat), str(msg_id)]
    if participant:
        parts.append(to_cus_format(participant))
    return "_".join(parts)


class DistinctAck:
    """Drops a repeated ``{id}-{ack}-{participant}`` seen within ``window`` seconds (WAHA's
    ``DistinctAck``); state carries across records. Bounded: old keys are evicted."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()

    def key(self, msg_id: Any, ack: Any, participant: Any) -> str:
        return f"{msg_id}-{ack}-{'undefined' if participant is None else participant}"

    def is_duplicate(self, key: str) -> bool:
        """Whether ``key`` was accepted within the window (no state change)."""
        seen = self._seen.get(key)
        return seen is not None and self.clock() - seen < self.window

    def accept(self, key: str) -> None:
        """Record ``key`` as emitted now."""
        now = self.clock()
        self._seen[key] = now
        self._seen.move_to_end(key)
        while self._seen:
            oldest_key, oldest = next(iter(self._seen.items()))
            if now - oldest < self.window and len(self._seen) <= self.max_keys:
                break
            del self._seen[oldest_key]


class SessionStatusTracker:
    """The ``status`` setter of WAHA's session: history of the last 3, consecutive ``WORKING``
    removed (other statuses are not de-duplicated)."""

    def __init__(self, session: str, clock_ms: Callable[[], int] | None = None) -> None:
        self.session = session
        self.status: str | None = None
        self.history: list[StatusHistoryEntry] = []
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    def set(self, status: str) -> list[Emission]:
        if status == "WORKING" and self.status == "WORKING":
            return []
        self.status = status
        self.history = [*self.history, StatusHistoryEntry(status=status, timestamp=self.clock_ms())][-3:]
        payload = SessionStatusPayload(name=self.session, status=status, statuses=list(self.history))
        return [Emission("session.status", payload)]
