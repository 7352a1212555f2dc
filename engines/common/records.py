"""Native event records: one JSON object per line, ``{"type": ..., "data": ..., "ts"?: ms}``.

Decoded once here, at the edge; everything after works on :class:`NativeRecord`.

Nesting is bounded explicitly (:data:`MAX_DEPTH`): a deeper record is a :class:`BadRecord`
("nested deeper than 64 levels"), never a ``RecursionError`` in the decoder, in a mapper that
walks the data or in the encoder that writes the envelope later. Real WhatsApp records nest
at most about 10 levels (the bundled recordings: 9).
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


#: The deepest nesting of arrays and objects a record may have (the record object itself is
#: level 1).
MAX_DEPTH = 64

_decoder = msgspec.json.Decoder(NativeRecord)
# Every byte but quotes and brackets is deleted; braces become square brackets (the kind does
# not matter for the depth).
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}')
_SQUARE = bytes.maketrans(b"{}", b"[]")


def nesting_depth(line: bytes, limit: int | None = None) -> int:
    """How deep arrays and objects nest in the JSON text ``line`` (0: a scalar); with
    ``limit``, counting stops past ``limit``. Brackets inside strings do not count.

    Every step runs in C: escaped backslashes and quotes go first (the quotes left delimit
    strings), then every byte but quotes and brackets. Two quotes in a row have no bracket
    between them outside a string, so removing them keeps what is inside and outside strings;
    quotes left after that (strings holding brackets, rare) cut out their strings. Then each
    pass removes every innermost pair (``[]``: an opening bracket right before its closing
    one), which lowers every branch by one level: at most ``limit + 1`` passes. Text that is
    not JSON may count low; the decoder refuses it anyway."""
    if b"\\" in line:
        line = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = line.translate(None, _NOT_MARKS)
    while b'""' in marks:
        marks = marks.replace(b'""', b"")
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[0::2])
    brackets = marks.translate(_SQUARE)
    depth = 0
    # A run of more than ``limit`` opening brackets is too deep at once (a plain deep chain).
    chain = None if limit is None else b"[" * (limit + 1)
    while brackets and (limit is None or depth <= limit):
        if chain is not None and chain in brackets:
            return depth + limit + 1
        inner_removed = brackets.replace(b"[]", b"")
        if len(inner_removed) == len(brackets):  # unbalanced: not JSON
            break
        brackets = inner_removed
        depth += 1
    return depth


def check_depth(line: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`BadRecord` when ``line`` nests deeper than ``limit``. A line with no more
    opening brackets than ``limit`` cannot: most lines pass after two counts, and only the
    others are scanned."""
    data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") > limit and nesting_depth(data, limit) > limit:
        raise BadRecord(f"not a native record: nested deeper than {limit} levels")


def decode_record(line: bytes | str) -> NativeRecord:
    """Decode one line; raise :class:`BadRecord` when it is not a record."""
    check_depth(line)
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"not a native record: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRecord(f"not valid JSON: {exc}") from None
    except RecursionError:  # text that is not JSON, opening more than the decoder can follow
        raise BadRecord(f"not valid JSON: nested deeper than {MAX_DEPTH} levels") from None
