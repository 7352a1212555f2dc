"""The base of the engines' translators: bad input is logged, counted and skipped.

A subclass implements :meth:`BaseTranslator.map`, a pure mapping of one record to emissions
that keeps its session state in ``self``. It raises :class:`BadRecord` for input that does not
fit; any other exception is treated the same way, so no record can stop a session. A mapping
must change state only once it knows the record is good (compute first, then commit).

:meth:`BaseTranslator.translate_line` is the one edge every source goes through (the
``translate`` command, replays, live bridges): whatever goes wrong with one line, in decoding
(too deep, not JSON, ``RecursionError``, ``MemoryError`` ...) or in mapping, it is skipped,
counted in ``bad_records`` and logged with its position; the session goes on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import msgspec

from core.engine import Emission
from core.events import Me
from core.logging import get_logger
from engines.common.metrics import BAD_RECORDS
from engines.common.records import BadRecord, NativeRecord, decode_record
from engines.common.waha import SessionStatusTracker

log = get_logger("engines")

#: How many ids of messages sent through the API a translator remembers (for ``source``).
SENT_IDS_KEPT = 10_000


class BaseTranslator:
    engine = "?"

    def __init__(self, session: str, me_id: str | None = None, me_lid: str | None = None,
                 me_push_name: str | None = None) -> None:
        self.session = session
        self.me_id = me_id
        self.me_lid = me_lid
        self.me_push_name = me_push_name
        self.bad_records = 0
        self.records = 0
        #: The session's status and its history (WAHA's ``status`` setter); engines replace it
        #: with one on their own clock. The live bridge reads it (commands need ``WORKING``)
        #: and sets ``FAILED`` through it when it gives up.
        self.status = SessionStatusTracker(session)
        #: Ids (WAHA's format) of messages sent through hookwire's API, newest last: their
        #: message payloads say ``source: "api"`` (WAHA), every other one ``"app"``.
        self.sent_by_api: OrderedDict[str, None] = OrderedDict()

    def note_sent(self, message_id: str) -> None:
        """Remember that ``message_id`` was sent through the API (bounded: the oldest go)."""
        self.sent_by_api[message_id] = None
        self.sent_by_api.move_to_end(message_id)
        while len(self.sent_by_api) > SENT_IDS_KEPT:
            self.sent_by_api.popitem(last=False)

    @property
    def me(self) -> Me | None:
        return Me(id=self.me_id, pushName=self.me_push_name) if self.me_id else None

    def start(self) -> list[Emission]:
        """Emissions of a session that has just started (its first ``session.status``)."""
        return []

    def failed(self) -> list[Emission]:
        """Emissions of a session the kernel gave up on (``session.status`` ``FAILED``, as WAHA
        reports a session that cannot go on), through the engine's status tracker when it has
        one (``self.status``)."""
        tracker = getattr(self, "status", None)
        return tracker.set("FAILED") if isinstance(tracker, SessionStatusTracker) else []

    def map(self, record: NativeRecord, position: str) -> list[Emission]:
        raise NotImplementedError

    def translate_line(self, line: bytes | str, position: str) -> list[Emission]:
        self.records += 1
        try:
            record = decode_record(line)
        except BadRecord as exc:
            self.bad(position, None, exc.reason)
            return []
        except Exception as exc:  # the decoder itself failed (memory, recursion): still one line
            self.bad(position, None, f"cannot decode: {type(exc).__name__}: {exc}")
            return []
        return self.translate_record(record, position)

    def translate_record(self, record: NativeRecord, position: str) -> list[Emission]:
        try:
            emissions = [with_identity(emission) for emission in self.map(record, position)]
            if self.sent_by_api:
                for emission in emissions:
                    self._mark_source(emission.payload)
            return emissions
        except BadRecord as exc:
            self.bad(position, exc.record_type or record.type, exc.reason)
        except Exception as exc:  # a mapper bug must not stop the session either
            self.bad(position, record.type, f"{type(exc).__name__}: {exc}")
        return []

    def _mark_source(self, payload: Any) -> None:
        if getattr(payload, "source", None) == "app" and getattr(payload, "fromMe", False) is True \
                and getattr(payload, "id", None) in self.sent_by_api:
            payload.source = "api"

    def bad(self, position: str, record_type: str | None, reason: str, **extra: Any) -> None:
        """Log and count one bad record or bad item of a record."""
        self.bad_records += 1
        BAD_RECORDS.labels(self.engine).inc()
        log.error("bad native record skipped", engine=self.engine, session=self.session,
                  position=position, record_type=record_type, error=reason,
                  bad_records=self.bad_records, **extra)


# -- stable identities ---------------------------------------------------------------------
#
# The events whose native form carries a stable identity get it as their ``key``
# (:class:`core.engine.Emission`), so their envelope ids are the same when the phone sends
# them again: a message (its id, per event name), an ack (message id, ack level, reader), a
# reaction (its id, the message reacted to, the emoji), a revoke (the revoked message), an
# edit (the edit's id, the edited message, the new text). Every other event (session status,
# presence, groups, calls, polls, labels, ``engine.event``) gets a new id each time.

_key_encoder = msgspec.json.Encoder()


def _field(value: Any, name: str) -> Any:
    """``value.name`` of a payload Struct, ``value[name]`` of a mapping (payloads typed ``Any``)."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def identity_key(emission: Emission) -> str | None:
    """The stable identity of ``emission``, or ``None`` (see above)."""
    name, payload = emission.name, emission.payload
    if name in ("message", "message.any", "message.waiting"):
        parts: tuple[Any, ...] | None = (_text(_field(payload, "id")),)
    elif name in ("message.ack", "message.ack.group"):
        ack = _field(payload, "ack")
        parts = (_text(_field(payload, "id")), ack if isinstance(ack, int) else None,
                 _text(_field(payload, "participant")) or "")
    elif name == "message.reaction":
        reaction = _field(payload, "reaction")
        parts = (_text(_field(payload, "id")), _text(_field(reaction, "messageId")),
                 _field(reaction, "text") if isinstance(_field(reaction, "text"), str) else None)
    elif name == "message.revoked":
        parts = (_text(_field(payload, "revokedMessageId"))
                 or _text(_field(_field(payload, "after"), "id")),)
    elif name == "message.edited":
        body = _field(payload, "body")
        parts = (_text(_field(payload, "id")), _text(_field(payload, "editedMessageId")) or "",
                 body if isinstance(body, str) else "")
    else:
        return None
    if any(part is None for part in parts):
        return None
    return _key_encoder.encode((name, *parts)).decode()


def with_identity(emission: Emission) -> Emission:
    if emission.key is not None:
        return emission
    key = identity_key(emission)
    return emission if key is None else Emission(emission.name, emission.payload, key)
