"""The API plugin's config: ``[api]``.

Off by default in the embedded default config (``python -m core`` stays a one-shot demo). The
key comes from the file or ``WHATSAPP_API_KEY`` (WAHA's variable; the environment wins), port
and host also from ``WHATSAPP_API_PORT`` and ``WHATSAPP_API_HOSTNAME``. Without a key the server
only listens on a loopback address: a config asking for more is an error at start-up.
Every number has a range (declared on its field; ``WHATSAPP_API_PORT`` uses the same).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from core.config import ConfigError, env_number

ENV_KEY = "WHATSAPP_API_KEY"
ENV_PORT = "WHATSAPP_API_PORT"
ENV_HOST = "WHATSAPP_API_HOSTNAME"

Port = Annotated[int, Meta(ge=0, le=65535)]


class ApiConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = False
    host: str = "127.0.0.1"
    #: 3000 like WAHA; 0 picks a free port (tests); 0 to 65535.
    port: Port = 3000
    #: Sent by clients as ``X-Api-Key`` (WebSocket: also ``?x-api-key=``).
    api_key: str | None = None
    #: Largest request body accepted, in bytes (a larger one gets 413); 1,024 to 268,435,456 (256 MiB).
    max_body_bytes: Annotated[int, Meta(ge=1024, le=268_435_456)] = 1_048_576
    #: Envelopes queued for one WebSocket client; a client that falls this far behind is
    #: disconnected (it never slows the bus down). 1 to 100,000.
    ws_buffer: Annotated[int, Meta(ge=1, le=100_000)] = 256
    #: Engine of a session created without ``engine``.
    default_engine: str = "WEBJS"
    #: Sessions created over the API may replay recordings from this directory only (relative
    #: to the config file); unset: API sessions cannot use ``source = "replay"``.
    replay_dir: str | None = None
    #: Where API sessions persist (default: ``<data_dir>/api-sessions.sqlite3``).
    sessions_db: str | None = None
    #: ``/health`` answers 503 when a delivery has been due this long without an attempt
    #: (> 0 to 604,800 seconds).
    stuck_after_seconds: Annotated[float, Meta(gt=0, le=604_800)] = 120.0

    def __post_init__(self) -> None:
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
        raw["port"] = env_number(environ, ENV_PORT, Port)
    return raw


def check_api(config: ApiConfig, event_names: Collection[str]) -> None:
    del event_names
    if config.enabled and config.api_key is None and not is_loopback(config.host):
        raise ConfigError(
            f"api.host: refusing to listen on {config.host!r} without an API key: set "
            f"api.api_key (or {ENV_KEY}), or listen on 127.0.0.1")
