"""The base of the engines' translators: bad input is logged, counted and skipped.

A subclass implements :meth:`BaseTranslator.map`, a pure mapping of one record to emissions
that keeps its session state in ``self``. It raises :class:`BadRecord` for input that does not
fit; any other exception is treated the same way, so no record can stop a session. A mapping
must change state only once it knows the record is good (compute first, then commit).
"""

from __future__ import annotations

from typing import Any

from core.engine import Emission
from core.events import Me
from core.logging import get_logger
from engines.common.metrics import BAD_RECORDS
from engines.common.records import BadRecord, NativeRecord, decode_record
from engines.common.waha import SessionStatusTracker

log = get_logger("engines")


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

    @property
    def me(self) -> Me | None:
        return Me(id=self.me_id, pushName=self.me_push_name) if self.me_id else None

    def start(self) -> list[Emission]:
        """Emissions of a session that has just started (its first ``session.status``)."""
        return []

    def map(self, record: NativeRecord, position: str) -> list[Emission]:
        raise NotImplementedError

    def translate_line(self, line: bytes | str, position: str) -> list[Emission]:
        self.records += 1
        try:
            record = decode_record(line)
        except BadRecord as exc:
            self.bad(position, None, exc.reason)
            return []
        return self.translate_record(record, position)

    def translate_record(self, record: NativeRecord, position: str) -> list[Emission]:
        try:
            return self.map(record, position)
        except BadRecord as exc:
            self.bad(position, exc.record_type or record.type, exc.reason)
        except Exception as exc:  # a mapper bug must not stop the session either
            self.bad(position, record.type, f"{type(exc).__name__}: {exc}")
        return []

    def bad(self, position: str, record_type: str | None, reason: str, **extra: Any) -> None:
        """Log and count one bad record or bad item of a record."""
        self.bad_records += 1
        BAD_RECORDS.labels(self.engine).inc()
        log.error("bad native record skipped", engine=self.engine, session=self.session,
                  position=position, record_type=record_type, error=reason,
                  bad_records=self.bad_records, **extra)
