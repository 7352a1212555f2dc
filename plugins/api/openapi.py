"""The OpenAPI 3.1 document, generated from the route table and the msgspec Structs
(``msgspec.json.schema_components``), with the loaded engines and event names as enums."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import msgspec

from core import __version__
from plugins.api.models import Error
from plugins.api.routes import Route

REF = "#/components/schemas/{name}"
#: Errors any route may answer.
COMMON_ERRORS = {400: "the request is malformed (e.g. not JSON)",
                 413: "the request body is too large",
                 422: "the request does not fit: a field or parameter is wrong, unknown or missing",
                 500: "an internal error (logged)"}
ERROR_TEXT = {401: "no or a wrong X-Api-Key", 404: "no such thing", 409: "conflicts with the "
              "current state", 503: "not available now (starting up, stopping, plugin missing)"}
_PATH_PARAM = re.compile(r"\{([^}]+)\}")
SESSION_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop ``null`` from ``anyOf``."""
    options = schema.get("anyOf")
    if not options:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) == 1:
        return {**{k: v for k, v in schema.items() if k != "anyOf"}, **rest[0]}
    return {**schema, "anyOf": rest}


def _query_parameters(query: Any, components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = components[query.__name__]
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _without_null(prop)} for name, prop in schema.get("properties", {}).items()]


def _operation(route: Route, components: dict[str, Any], schemas: dict[Any, dict[str, Any]],
               secured: bool) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": route.summary, "tags": [route.tag],
                          "operationId": f"{route.method.lower()}_{route.path}".replace("/", "_")
                          .replace("{", "").replace("}", "").replace("-", "_").replace(".", "_")}
    if route.description:
        op["description"] = route.description
    params = [{"name": name, "in": "path", "required": True,
               "schema": SESSION_NAME if name in ("name", "session") else {"type": "string"}}
              for name in _PATH_PARAM.findall(route.path)]
    if route.query is not None:
        params += _query_parameters(route.query, components)
    params += route.parameters
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": schemas[route.body]}}}
    responses: dict[str, Any] = {}
    for status, answer in route.responses.items():
        content: dict[str, Any] = {}
        if answer.one_of:
            content[answer.media] = {"schema": {"oneOf": [schemas[t] for t in answer.one_of]}}
        elif answer.type is not None:
            content[answer.media] = {"schema": schemas[answer.type]}
        elif answer.schema is not None:
            content[answer.media] = {"schema": answer.schema}
        for media, schema in answer.also.items():
            content[media] = {"schema": schema}
        responses[str(status)] = {"description": answer.description, **({"content": content} if content else {})}
        if answer.headers:
            responses[str(status)]["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in answer.headers.items()}
    errors = dict(COMMON_ERRORS)
    for status in route.errors:
        errors[status] = ERROR_TEXT.get(status, "an error")
    if secured and not route.public:
        errors[401] = ERROR_TEXT[401]
    for status, text in sorted(errors.items()):
        responses.setdefault(str(status), {"description": text, "content": {
            "application/json": {"schema": schemas[Error]}}})
    op["responses"] = responses
    if secured and not route.public:
        op["security"] = [{"ApiKey": []}]
    return op


def build_openapi(routes: list[Route], *, engines: Collection[str], event_names: Collection[str],
                  secured: bool) -> dict[str, Any]:
    types: list[Any] = [Error]
    for route in routes:
        answers = [t for r in route.responses.values() for t in (r.type, *r.one_of)]
        for type_ in (route.body, route.query, *answers):
            if type_ is not None and type_ not in types:
                types.append(type_)
    found, components = msgspec.json.schema_components(types, ref_template=REF)
    schemas = dict(zip(types, found, strict=True))
    _enums(components, engines, event_names)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components, schemas,
                                                                            secured)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "hookwire API", "version": __version__,
                 "description": "Manage WhatsApp sessions and their webhooks, inspect and re-send "
                                "deliveries, stream events. WAHA-compatible paths and bodies where "
                                "WAHA has them."},
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
    return document


def _enums(components: dict[str, Any], engines: Collection[str], event_names: Collection[str]) -> None:
    """Name the loaded engines and events in the schemas (clients and fuzzers then send
    values that exist)."""
    engine_enum = {"enum": sorted(engines)} if engines else {"type": "string"}
    for name in ("SessionCreate", "SessionUpdate", "SessionStartDeprecated"):
        props = components.get(name, {}).get("properties", {})
        if "engine" in props:
            props["engine"] = {"anyOf": [engine_enum, {"type": "null"}], "default": None}
    hook = components.get("WebhookBody", {}).get("properties", {})
    if "events" in hook:
        hook["events"] = {"type": "array", "minItems": 1,
                          "items": {"enum": ["*", *sorted(event_names)]}}
