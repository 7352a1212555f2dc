"""Checks of the JSON shapes in Baileys records: each returns the value or raises
:class:`BadRecord` naming the field, what was expected and what was found.

A key that is absent reads as ``UNSET`` (JavaScript's ``undefined``), so the mappers can keep
WAHA's absent-versus-``null`` distinction.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from engines.common.records import BadRecord

JsonObject = dict[str, Any]


def describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'…' if len(text) > 80 else ''}"


def get(obj: Any, key: str) -> Any:
    """``obj?.[key]``: ``UNSET`` when ``obj`` is not an object or lacks the key."""
    return obj.get(key, UNSET) if isinstance(obj, dict) else UNSET


def present(value: Any) -> bool:
    """Neither absent nor ``null`` (JavaScript ``!= null``)."""
    return value is not UNSET and value is not None


def need_object(value: Any, field: str) -> JsonObject:
    if not isinstance(value, dict):
        raise BadRecord(f"{field}: expected an object, got {describe(value)}")
    return value


def need_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRecord(f"{field}: expected an array, got {describe(value)}")
    return value


def need_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"{field}: expected a string, got {describe(value)}")
    return value


def optional_object(value: Any, field: str) -> JsonObject | None:
    """An object, or ``None`` when absent or ``null``."""
    return need_object(value, field) if present(value) else None


def optional_str(value: Any, field: str) -> Any:
    """A string, or the value itself when absent or ``null``."""
    return need_str(value, field) if present(value) else value


def optional_bool(value: Any, field: str) -> Any:
    if present(value) and not isinstance(value, bool):
        raise BadRecord(f"{field}: expected a boolean, got {describe(value)}")
    return value


def optional_list(value: Any, field: str) -> list[Any] | None:
    return need_list(value, field) if present(value) else None
