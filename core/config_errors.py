"""Errors of the config in words a user can act on: the key path (a table's key, not msgspec's
``[...]``), what was expected (the whole range of a number, the allowed values of a literal)
and what was found (secrets and URL passwords masked). Used by :mod:`core.config`.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Literal

import msgspec

from core.logging import mask_credentials


def unannotated(type_: Any) -> Any:
    """``X`` of ``Annotated[X, …]`` (at any depth), else the type itself."""
    while typing.get_origin(type_) is Annotated:
        type_ = typing.get_args(type_)[0]
    return type_


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def describe_range(type_: Any) -> str | None:
    """``"an integer >= 1 and <= 1000000"`` for a number type with a ``msgspec.Meta`` range
    (also inside ``X | None``), else ``None``."""
    for member in _members(type_):
        if typing.get_origin(member) is not Annotated:
            continue
        base, *metadata = typing.get_args(member)
        base = unannotated(base)
        if base not in (int, float):
            continue
        bounds = [f"{op} {_number_text(getattr(meta, attr))}"
                  for meta in metadata if isinstance(meta, msgspec.Meta)
                  for op, attr in ((">=", "ge"), (">", "gt"), ("<=", "le"), ("<", "lt"))
                  if getattr(meta, attr) is not None]
        if bounds:
            return f"{'an integer' if base is int else 'a number'} {' and '.join(bounds)}"
    return None


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")


def describe_validation_error(exc: Exception, raw: Any, source: str, prefix: str,
                              type_: Any = Any) -> str:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    message, path = match["msg"], match["path"] or ""
    unknown = _UNKNOWN.search(message)
    if unknown:
        path = f"{path}.{unknown['field']}"
        message = f"unknown key `{unknown['field']}`"
    shown, found, leaf_type = _walk(raw, type_, path)
    full_path = f"{prefix}{shown}" if prefix else shown.lstrip(".")
    detail = message[0].lower() + message[1:] if message else "invalid value"
    number_range = describe_range(leaf_type)
    if number_range and _NUMBER_ERROR.match(message):  # say the whole range, not one bound
        got = _GOT.search(message)
        detail = f"expected {number_range}" + (f", got {got['type']}" if got else "")
    allowed = [v for m in map(unannotated, _members(leaf_type)) if typing.get_origin(m) is Literal
               for v in typing.get_args(m)]
    if allowed and not unknown:
        detail += f" (expected one of {', '.join(map(repr, allowed))})"
    text = f"{source}: {full_path or '<top level>'}: {detail}"
    if found is not _MISSING and not unknown:
        text += f" (found {masked(found, full_path.rsplit('.', 1)[-1])!r})"
    return text


_NUMBER_ERROR = re.compile(r"Expected `(int|float)`")
_GOT = re.compile(r", got (?P<type>`[^`]+`)")
_MISSING = object()
# msgspec error paths: ``.field``, ``[0]``, and ``[...]`` for "some value of a table".
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|(\[\.\.\.\])")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _members(type_: Any) -> tuple[Any, ...]:
    """The members of a union such as ``str | None``, or the type itself."""
    if typing.get_origin(unannotated(type_)) in (typing.Union, types.UnionType):
        return typing.get_args(unannotated(type_))
    return (type_,)


def _container(type_: Any, node: Any) -> Any:
    """The member of a union that the raw ``node`` (a table or an array) was converted to."""
    for member in map(unannotated, _members(type_)):
        origin = typing.get_origin(member) or member
        is_struct = isinstance(origin, type) and issubclass(origin, msgspec.Struct)
        if isinstance(node, dict) and (origin is dict or is_struct):
            return member
        if isinstance(node, list) and origin in (list, tuple, set, frozenset):
            return member
    return Any


def _walk(raw: Any, type_: Any, path: str) -> tuple[str, Any, Any]:
    """Follow a msgspec error path through the raw value and its type: the readable path
    (a table's key instead of ``[...]``), the raw value found there and its expected type."""
    node, shown = raw, ""
    for key, index, any_value in _STEP.findall(path):
        type_ = _container(type_, node)
        args = typing.get_args(type_)
        if key:
            if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
                fields = {f.encode_name: f.type for f in msgspec.structs.fields(type_)}
                type_ = fields.get(key, Any)
            else:
                type_ = args[1] if len(args) == 2 else Any
            shown += f".{key}"
            node = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
        elif index:
            type_ = args[0] if args else Any
            shown += f"[{index}]"
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else _MISSING
        elif any_value:
            type_ = args[1] if len(args) == 2 else Any
            bad = _first_bad_item(node, type_)
            if bad is _MISSING:
                return shown + any_value, node, type_
            shown += f".{bad}" if _BARE_KEY.fullmatch(str(bad)) else f"[{str(bad)!r}]"
            node = node[bad]
        if node is _MISSING:
            return shown, _MISSING, type_
    return shown, node, type_


def _first_bad_item(table: Any, value_type: Any) -> Any:
    """The first key of ``table`` whose value does not convert to ``value_type``."""
    if not isinstance(table, dict):
        return _MISSING
    for key, value in table.items():
        try:
            msgspec.convert(value, value_type)
        except msgspec.ValidationError:
            return key
    return _MISSING


SECRET_KEY = re.compile(r"(secret|hmac_key|password|api_key|token|authorization)", re.I)


def masked(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (builtins) with secret-looking keys replaced by ``"***"`` and the
    passwords of URLs by ``***`` (``http://user:***@host``)."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if value not in (None, "", []) and SECRET_KEY.search(key):
        return "***"
    if isinstance(value, str):
        return mask_credentials(value)
    return value
