"""Lowercase ULIDs for event ids (``evt_`` + 26 Crockford base32 characters): new ones, and
ones derived from an identity (:func:`derived_event_id`), the same for the same event.

Written here rather than pulled in as a dependency: it is 30 lines. Ids made in the same
millisecond by one process increase monotonically (the random part is incremented), so
ids sort in creation order, which keeps store scans and logs readable.
"""

from __future__ import annotations

import hashlib
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


#: Two characters per 10 bits: the 80-bit random part is 8 look-ups (the stdlib's base32
#: encoder is written in Python and costs several times more).
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]
_last_time_text = ""


def _encode80(value: int) -> str:
    pairs = _PAIRS
    return (pairs[value >> 70] + pairs[(value >> 60) & 1023] + pairs[(value >> 50) & 1023]
            + pairs[(value >> 40) & 1023] + pairs[(value >> 30) & 1023] + pairs[(value >> 20) & 1023]
            + pairs[(value >> 10) & 1023] + pairs[value & 1023])


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
    return time_text + _encode80(rand)


def ulid_time_ms(ulid: str) -> int:
    """The millisecond timestamp inside a ULID (for tests and tools)."""
    value = 0
    for char in ulid[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value


def new_event_id() -> str:
    return "evt_" + new_ulid()


_MAX_MS = (1 << 48) - 1


_derived_time = (-1, "")  # the last time part made by derived_ulid (a replay's are all one)


def derived_ulid(time_ms: int, identity: bytes) -> str:
    """A ULID that is the same whenever ``identity`` is: ``time_ms`` (clamped to the 48 bits
    of the time part), then the first 80 bits of BLAKE2b of ``identity`` as the random part.
    Deterministic ids let a receiver dedupe an event sent again by a restarted source."""
    global _derived_time
    ms = min(max(int(time_ms), 0), _MAX_MS)
    last_ms, time_text = _derived_time
    if ms != last_ms:
        time_text = _encode(ms, 10)
        _derived_time = (ms, time_text)
    digest = hashlib.blake2b(identity, digest_size=10).digest()
    return time_text + _encode80(int.from_bytes(digest, "big"))


def derived_event_id(time_ms: int, identity: bytes) -> str:
    return "evt_" + derived_ulid(time_ms, identity)
