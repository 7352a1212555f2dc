"""The API key: ``X-Api-Key`` (WebSocket clients may pass ``?x-api-key=``; ``/metrics`` also
takes ``Authorization: Bearer <key>``, as Prometheus sends it), compared in constant time (a
``sha512:<hex>`` key by the SHA-512 of what is given). The key is never logged; a refusal logs
the path and the peer only."""

from __future__ import annotations

from aiohttp import web

from core.logging import get_logger
from plugins.api.config import ApiConfig
from plugins.api.errors import ApiError

log = get_logger("plugins.api")

#: Routes that also take the key as ``Authorization: Bearer <key>`` (Prometheus' way).
BEARER_PATHS = frozenset({"/metrics"})


def check_key(request: web.Request, config: ApiConfig) -> None:
    """Raise a 401 :class:`ApiError` unless the request carries the key (no key configured:
    every request passes; the server then listens on loopback only)."""
    if config.api_key is None:
        return
    given = request.headers.get("X-Api-Key")
    if given is None and request.path == "/ws":
        given = request.query.get("x-api-key")
    if given is None and request.path in BEARER_PATHS:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            given = credentials.strip()
    if given is not None and config.key_matches(given):
        return
    log.warning("API request refused: missing or wrong API key", method=request.method,
                path=request.path, peer=request.remote, key_given=given is not None)
    raise ApiError(401, "unauthorized", "a valid X-Api-Key header is required")
