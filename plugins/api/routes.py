"""The route table: each route's method, path, handler, body and query types and responses.

One table drives both the aiohttp router (:mod:`plugins.api.server`) and the OpenAPI document
(:mod:`plugins.api.openapi`), so the document describes every route there is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from plugins.api.sink import ApiSink


@dataclass
class Call:
    """What a handler gets: the plugin, the request, and the decoded body and query."""

    api: ApiSink
    request: web.Request
    body: Any = None
    query: Any = None

    def path(self, name: str) -> str:
        return self.request.match_info[name]


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Response:
    """One documented answer: a JSON body of ``type`` (``None``: no schema), or another media
    type (``media``) with a schema given as a dict; ``also`` adds media types."""

    description: str
    type: Any = None
    media: str = "application/json"
    schema: dict[str, Any] | None = None
    #: More media types of the same answer: media type -> schema.
    also: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Several JSON bodies this answer may be (``oneOf``), instead of ``type``.
    one_of: tuple[Any, ...] = ()
    #: Response headers: name -> description (string values).
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    responses: dict[int, Response]
    body: Any = None
    query: Any = None
    #: Error statuses this route answers besides the common ones (400, 401, 413, 422, 500).
    errors: tuple[int, ...] = ()
    #: Reachable without the API key.
    public: bool = False
    description: str = ""
    #: Extra OpenAPI parameters (for routes whose query is read by hand, like ``/ws``).
    parameters: list[dict[str, Any]] = field(default_factory=list)
