"""The API plugin's config: ``[api]``.

Off by default in the embedded default config (``python -m core`` stays a one-shot demo). The
key comes from the file or ``WHATSAPP_API_KEY`` (WAHA's variable; the environment wins), port
and host also from ``WHATSAPP_API_PORT`` and ``WHATSAPP_API_HOSTNAME``. Without a key the server
only listens on a loopback address: a config asking for more is an error at start-up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from core.config import ConfigError

ENV_KEY = "WHATSAPP_API_KEY"
ENV_PORT = "WHATSAPP_API_PORT"
ENV_HOST = "WHATSAPP_API_HOSTNAME"


class ApiConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = False
    host: str = "127.0.0.1"
    #: 3000 like WAHA; 0 picks a free port (tests).
    port: int = 3000
    #: Sent by clients as ``X-Api-Key`` (WebSocket: also ``?x-api-key=``).
    api_key: str | None = None
    #: Largest request body accepted, in bytes (a larger one gets 413).
    max_body_bytes: int = 1_048_576
    #: Envelopes queued for one WebSocket client; a client that falls this far behind is
    #: disconnected (it never slows the bus down).
    ws_buffer: int = 256
    #: Engine of a session created without ``engine``.
    default_engine: str = "WEBJS"
    #: Sessions created over the API may replay recordings from this directory only (relative
    #: to the config file); unset: API sessions cannot use ``source = "replay"``.
    replay_dir: str | None = None
    #: Where API sessions persist (default: ``<data_dir>/api-sessions.sqlite3``).
    sessions_db: str | None = None
    #: ``/health`` answers 503 when a delivery has been due this long without an attempt.
    stuck_after_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, found {self.port}")
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be >= 1024")
        if self.ws_buffer < 1:
            raise ValueError("ws_buffer must be >= 1")
        if self.stuck_after_seconds <= 0:
            raise ValueError("stuck_after_seconds must be > 0")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (leave it out for no key)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_from_env(raw: Any, environ: Mapping[str, str]) -> Any:
    raw = dict(raw or {})
    if environ.get(ENV_KEY):
        raw["api_key"] = environ[ENV_KEY]
    if environ.get(ENV_HOST):
        raw["host"] = environ[ENV_HOST].strip()
    if environ.get(ENV_PORT):
        text = environ[ENV_PORT].strip()
        if not text.isdigit():
            raise ConfigError(f"{ENV_PORT}: expected a port number, found {text!r}")
        raw["port"] = int(text)
    return raw


def check_api(config: ApiConfig, event_names: Collection[str]) -> None:
    del event_names
    if config.enabled and config.api_key is None and not is_loopback(config.host):
        raise ConfigError(
            f"api.host: refusing to listen on {config.host!r} without an API key: set "
            f"api.api_key (or {ENV_KEY}), or listen on 127.0.0.1")
