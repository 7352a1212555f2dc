"""The JavaScript value rules WAHA's NOWEB code relies on, for JSON-decoded records.

WAHA tests values with JavaScript truthiness (``{}`` and ``[]`` are true, ``0`` and ``''`` are
false), converts Baileys' 64-bit numbers with ``ensureNumber`` and writes coordinates with
``Number.prototype.toString``. Python's own rules differ on each point, so they are spelled out
here once. A value of the wrong type raises :class:`BadRecord` naming the field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from msgspec import UNSET, UnsetType

from engines.common.records import BadRecord

_DECIMAL = re.compile(r"\s*[+-]?\d+\s*")


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: ``None``/``UNSET``, ``False``, ``0``, ``NaN`` and ``''`` are false;
    every object and array, even an empty one, is true."""
    if value is None or value is UNSET or value is False:
        return False
    if isinstance(value, (int, float)):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_long(value: Any) -> bool:
    """A protobuf ``Long`` as JSON: an object with ``low``, ``high`` and ``unsigned``."""
    return isinstance(value, Mapping) and {"low", "high", "unsigned"} <= value.keys()


def long_to_number(value: Mapping[str, Any], field: str) -> int:
    """Convert ``{low, high, unsigned}`` as Long.js ``toNumber`` does.

    WAHA's own shortcut (``unsigned ? low >>> 0 : low + high * 2**32``) agrees with it for every
    value below 2**31 (all second timestamps until 2038); it differs when ``low`` has its sign
    bit set, where Long.js is right.
    """
    low, high = value.get("low"), value.get("high")
    if not (isinstance(low, int) and isinstance(high, int)) or isinstance(low, bool) \
            or isinstance(high, bool):
        raise BadRecord(f"{field}: a Long needs integer low and high, got {dict(value)!r}")
    low_u = low & 0xFFFFFFFF
    if js_truthy(value.get("unsigned")):
        return (high & 0xFFFFFFFF) * 2**32 + low_u
    high_s = (high & 0xFFFFFFFF) - 2**32 if high & 0x80000000 else high & 0xFFFFFFFF
    return high_s * 2**32 + low_u


def ensure_number(value: Any, field: str) -> int | float | None | UnsetType:
    """``ensureNumber``: a number stays, a decimal string is parsed, a Long is converted.

    As in WAHA, a missing value stays missing (``UNSET``) and ``null``/``0`` stay themselves.
    Anything else (a non-numeric string, a boolean, an object that is not a Long) is bad input.
    """
    if value is UNSET or value is None:
        return value
    if is_number(value):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise BadRecord(f"{field}: {value!r} is not a decimal number")
        return int(value)
    if is_long(value):
        return long_to_number(value, field)
    raise BadRecord(f"{field}: expected a number, a decimal string or a Long, "
                    f"got {type(value).__name__} {value!r}")


def js_number_to_string(value: Any) -> str:
    """``Number.prototype.toString()`` (base 10): ``48.8584`` → ``"48.8584"``, ``48.0`` → ``"48"``,
    ``1e-05`` → ``"0.00001"``, ``1e21`` → ``"1e+21"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 10**21:
            return str(value)
        value = float(value)
    if not isinstance(value, float):
        raise TypeError(f"not a number: {value!r}")
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        sign_e = "+" if e >= 0 else "-"
        text = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{text}e{sign_e}{abs(e)}"
    return sign + text


def js_date_ms(value: Any, field: str) -> int:
    """``new Date(value).getTime()`` for the forms a record holds: ISO 8601 text (a missing
    offset is read as UTC, not local time) or milliseconds. Whole milliseconds, truncated."""
    if is_number(value):
        if not math.isfinite(value):
            raise BadRecord(f"{field}: {value!r} is not a date")
        return int(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadRecord(f"{field}: {value!r} is not an ISO 8601 date") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)
    raise BadRecord(f"{field}: expected a date, got {type(value).__name__} {value!r}")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ms_to_seconds(ms: int) -> int | float:
    """``ms / 1000`` as JavaScript prints it: a whole number when it is one."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000
