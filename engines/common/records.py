"""Native event records: one JSON object per line, ``{"type": ..., "data": ..., "ts"?: ms}``.

Decoded once here, at the edge; everything after works on :class:`NativeRecord`.
"""

from __future__ import annotations

from typing import Any

import msgspec


class BadRecord(Exception):
    """A record (or one item of it) that does not fit: what was wrong, for the log."""

    def __init__(self, reason: str, record_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record_type = record_type


class NativeRecord(msgspec.Struct, kw_only=True):
    #: The native event name (whatsapp-web.js ``Client`` event, Baileys event-map key).
    type: str
    #: The listener's argument(s); ``UNSET`` when the key is missing.
    data: Any = msgspec.UNSET
    #: When the record was captured, Unix ms (used by ``pace = "recorded"``); optional.
    ts: int | float | None = None


_decoder = msgspec.json.Decoder(NativeRecord)


def decode_record(line: bytes | str) -> NativeRecord:
    """Decode one line; raise :class:`BadRecord` when it is not a record."""
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"not a native record: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRecord(f"not valid JSON: {exc}") from None
