"""Errors as JSON ``{"error", "detail"}``, and request bodies and queries decoded at the edge.

A msgspec error names where it happened (``- at `$.config.webhooks[0]```); for an unknown
field the field itself is added, so the client reads ``$.config.webhooks[0].colour``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from multidict import MultiMapping

from plugins.api.models import Error

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.path = path


def error_response(status: int, error: str, detail: str, path: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=_encoder.encode(Error(error=error, detail=detail, path=path)),
                        content_type="application/json", headers=headers)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_encoder.encode(value), content_type="application/json")


def describe(exc: msgspec.ValidationError, prefix: str = "$") -> tuple[str, str]:
    """(detail, path) of a validation error; ``prefix`` replaces msgspec's ``$``."""
    match = _AT.match(str(exc))
    assert match is not None
    message, path = match["msg"], match["path"] or "$"
    unknown = _UNKNOWN.search(message)
    if unknown:
        path = f"{path}.{unknown['field']}"
        message = f"unknown field `{unknown['field']}`"
    path = prefix + path[1:]
    return f"{message[0].lower()}{message[1:]} (at {path})", path


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


async def read_body(request: web.Request, type_: type[T], max_bytes: int) -> T:
    """The request body decoded as ``type_``: 413 when too large, 400 when not JSON, 422 naming
    the field when it does not fit (an unknown field, a wrong type, a missing one)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "body_too_large", f"the request body is larger than {max_bytes} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"the request body is larger than {max_bytes} bytes") from None
    if not raw.strip():
        raw = b"{}"  # no body: every field takes its default (or is reported missing)
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        detail, path = describe(exc)
        raise ApiError(422, "invalid_body", detail, path) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None


def read_query(query: MultiMapping[str], type_: type[T]) -> T:
    """Query parameters converted to ``type_`` (strings become numbers where the type says so);
    422 naming the parameter when one does not fit or is unknown."""
    values: dict[str, Any] = {}
    for key in query:
        found = query.getall(key)
        if len(found) > 1:
            raise ApiError(422, "invalid_query", f"query parameter `{key}` is given {len(found)} times",
                           f"query.{key}")
        values[key] = found[0]
    try:
        result = msgspec.convert(values, type_, strict=False)
    except msgspec.ValidationError as exc:
        detail, path = describe(exc, "query")
        raise ApiError(422, "invalid_query", detail, path) from None
    for key, value in values.items():  # a parameter given is never "no value" (``null``)
        if getattr(result, key, None) is None:
            raise ApiError(422, "invalid_query", f"invalid value {value!r} (at query.{key})",
                           f"query.{key}")
    return result
