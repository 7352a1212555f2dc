"""Lowercase ULIDs for event ids (``evt_`` + 26 Crockford base32 characters).

Written here rather than pulled in as a dependency: it is 30 lines. Ids made in the same
millisecond by one process increase monotonically (the random part is incremented), so
ids sort in creation order, which keeps store scans and logs readable.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


#: Every 10-bit value as its two characters (``base64.b32encode`` is pure Python: 4x slower).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_last_time_text = ""


def _encode_80(v: int) -> str:
    """80 bits as 16 characters, most significant first."""
    p = _PAIRS
    return (p[v >> 70] + p[(v >> 60) & 1023] + p[(v >> 50) & 1023] + p[(v >> 40) & 1023]
            + p[(v >> 30) & 1023] + p[(v >> 20) & 1023] + p[(v >> 10) & 1023] + p[v & 1023])


def new_ulid(now_ms: int | None = None) -> str:
    """A 26-character lowercase ULID: 48-bit millisecond time, then 80 random bits."""
    global _last_ms, _last_rand, _last_time_text
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with _lock:
        if ms <= _last_ms:
            _last_rand = (_last_rand + 1) & ((1 << 80) - 1)
        else:
            _last_ms = ms
            _last_rand = int.from_bytes(os.urandom(10), "big")
            _last_time_text = _encode(ms, 10)  # once per millisecond
        rand, time_text = _last_rand, _last_time_text
    return time_text + _encode_80(rand)


def ulid_time_ms(ulid: str) -> int:
    """The millisecond timestamp inside a ULID (for tests and tools)."""
    value = 0
    for char in ulid[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value


def new_event_id() -> str:
    return "evt_" + new_ulid()
