"""The few JavaScript value rules WAHA's TypeScript mappers rely on, applied to JSON values.

WAHA reads native objects with optional chaining (``a?.b``), truthiness (``Boolean(x)``,
``a || b``) and unary plus (``+attrs.last``). A record decodes to Python ``dict``/``list``/
``str``/``int``/``float``/``bool``/``None``; a key that is absent is JavaScript's
``undefined``, written here as ``msgspec.UNSET`` so that a payload field set from it is left
out of the JSON exactly as ``JSON.stringify`` leaves out ``undefined``.

The ``*_or_bad`` helpers turn a value of the wrong type into :class:`BadRecord` (mapping doc
§3: "wrong value types") instead of letting it reach a typed payload field.
"""

from __future__ import annotations

import math
import re
from typing import Any

from msgspec import UNSET

from engines.common.records import BadRecord

#: JavaScript's ``undefined``: an absent key.
UNDEFINED: Any = UNSET


def type_name(value: Any) -> str:
    """A JSON-ish name of ``value``'s type, for log messages."""
    if value is UNSET:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def truthy(value: Any) -> bool:
    """JavaScript ``Boolean(value)``."""
    if value is UNSET or value is None:
        return False
    if isinstance(value, (bool, int, float, str)):
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    return True  # objects and arrays, even empty ones


def get(obj: Any, key: str) -> Any:
    """``obj?.[key]``: ``UNDEFINED`` unless ``obj`` is an object holding ``key``."""
    if isinstance(obj, dict):
        return obj.get(key, UNSET)
    return UNSET


def get_path(obj: Any, *keys: str) -> Any:
    """``obj?.k1?.k2…``."""
    for key in keys:
        obj = get(obj, key)
    return obj


def or_(first: Any, second: Any) -> Any:
    """JavaScript ``first || second``."""
    return first if truthy(first) else second


def template(value: Any) -> str:
    """JavaScript `` `${value}` `` for the scalar values that reach a key string."""
    if value is UNSET:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, (dict, list)):
        if isinstance(value, dict):
            return "[object Object]"
        return ",".join(template(v) for v in value)
    return str(value)


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_PREFIXED = re.compile(r"0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_JS_SPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")


def unary_plus(value: Any) -> int | float | None:
    """JavaScript ``+value`` as ``JSON.stringify`` would then write it: a number, or ``None``
    for ``NaN``/``Infinity`` (which JSON writes as ``null``)."""
    number: float
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        number = float(value)
        if isinstance(value, int):
            return value
    elif isinstance(value, str):
        text = value.strip(_JS_SPACE)
        if text == "":
            return 0
        if _PREFIXED.fullmatch(text):
            return int(text, 0)
        if text in ("Infinity", "+Infinity", "-Infinity") or not _DECIMAL.fullmatch(text):
            return None
        number = float(text)
    elif value is None:
        return 0
    else:
        return None
    if not math.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def str_or_bad(value: Any, what: str) -> Any:
    """A string, ``None`` or ``UNDEFINED`` passes; anything else is bad input."""
    if value is UNSET or value is None or isinstance(value, str):
        return value
    raise BadRecord(f"{what}: expected a string, got {describe(value)}")


def number_or_bad(value: Any, what: str) -> Any:
    """A number, ``None`` or ``UNDEFINED`` passes; anything else is bad input."""
    if value is UNSET or value is None or is_number(value):
        return value
    raise BadRecord(f"{what}: expected a number, got {describe(value)}")


def bool_or_bad(value: Any, what: str) -> Any:
    if value is UNSET or value is None or isinstance(value, bool):
        return value
    raise BadRecord(f"{what}: expected a boolean, got {describe(value)}")


def object_or_bad(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise BadRecord(f"{what}: expected an object, got {describe(value)}")


def describe(value: Any, limit: int = 60) -> str:
    """``value``'s type and a short excerpt of it, for a log message."""
    if value is UNSET or value is None:
        return type_name(value)
    text = repr(value)
    return f"{type_name(value)} {text if len(text) <= limit else text[: limit - 1] + '…'}"
