"""The API plugin's config: ``[api]``, and WAHA's environment variables that set it.

Off by default in the embedded default config (``python -m core`` stays a one-shot demo);
``hookwire serve`` always runs it (``HOOKWIRE_API_ENABLED=1`` turns it on for ``run`` too).
Every key can come from the file; WAHA's variables override it (listed in ``ENV``). Without
an API key the server only listens on a loopback address: a config asking for more is an
error at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from core.config import ConfigError, env_number

ENV_KEY = "WHATSAPP_API_KEY"
ENV_WAHA_KEY = "WAHA_API_KEY"
ENV_PORT = "WHATSAPP_API_PORT"
ENV_HOST = "WHATSAPP_API_HOSTNAME"
SESSION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SHA512 = re.compile(r"^sha512:([0-9a-fA-F]{128})$")

Port = Annotated[int, Meta(ge=0, le=65535)]
StartDelay = Annotated[float, Meta(ge=0, le=3600)]


class ApiConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = False
    #: Where to listen (``WHATSAPP_API_HOSTNAME``). Unset: every interface (``0.0.0.0``, as
    #: WAHA) when there is an API key, else 127.0.0.1 only.
    host: str | None = None
    #: 3000 like WAHA; 0 picks a free port (tests).
    port: Port = 3000
    #: ``http`` or ``https``: only how the API's own URL is written (``base_url``), as in WAHA.
    schema: Literal["http", "https"] = "http"
    #: The API's URL as clients reach it (default: ``schema://host:port``); logged at start.
    base_url: str | None = None
    #: Sent by clients as ``X-Api-Key`` (WebSocket: also ``?x-api-key=``). ``sha512:<hex>``:
    #: the SHA-512 of the key (the key itself is then never stored).
    api_key: str | None = None
    #: Paths reachable without the key (``WHATSAPP_API_KEY_EXCLUDE_PATH``, exact paths).
    api_key_exclude_paths: list[str] = []
    #: Largest request body accepted, in bytes (a larger one gets 413).
    max_body_bytes: Annotated[int, Meta(ge=1024, le=268_435_456)] = 1_048_576
    #: A media file sent by URL (``file.url``) is fetched up to this many bytes (else 422).
    media_max_bytes: Annotated[int, Meta(ge=1024, le=268_435_456)] = 16_777_216
    #: ... within this many seconds in all (else 422).
    media_fetch_timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 30.0
    #: Envelopes queued for one WebSocket client; a client that falls this far behind is
    #: disconnected (it never slows the bus down).
    ws_buffer: Annotated[int, Meta(ge=1, le=100_000)] = 256
    #: Engine of a session created without ``engine`` (``WHATSAPP_DEFAULT_ENGINE``).
    default_engine: str = "WEBJS"
    #: Sessions created over the API may replay recordings from this directory only (relative
    #: to the config file); unset: API sessions cannot use ``source = "replay"``.
    replay_dir: str | None = None
    #: Where API sessions persist (default: ``<data_dir>/api-sessions.sqlite3``).
    sessions_db: str | None = None
    #: ``/health`` answers 503 when a delivery has been due this long without an attempt.
    stuck_after_seconds: Annotated[float, Meta(gt=0, le=604_800)] = 120.0
    #: Sessions to create (default engine, empty config) if missing and start at boot
    #: (``WHATSAPP_START_SESSION``).
    start_sessions: list[str] = []
    #: Start every persisted session at boot, stopped ones too (``WHATSAPP_RESTART_ALL_SESSIONS``).
    restart_all_sessions: bool = False
    #: Start the persisted sessions that were running when the service stopped
    #: (``WAHA_WORKER_RESTART_SESSIONS``).
    worker_restart_sessions: bool = True
    #: Wait this long before starting sessions at boot (``WAHA_AUTO_START_DELAY_SECONDS``).
    auto_start_delay_seconds: StartDelay = 0.0
    #: The proxy of live sessions whose config has none (``WHATSAPP_PROXY_SERVER``,
    #: ``_USERNAME``, ``_PASSWORD``).
    proxy_server: str | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None
    #: ``/docs`` and ``/openapi.json`` (``WHATSAPP_SWAGGER_ENABLED``).
    swagger_enabled: bool = True
    #: HTTP basic auth for ``/docs`` and ``/openapi.json`` (``WHATSAPP_SWAGGER_USERNAME`` and
    #: ``_PASSWORD``; both or neither).
    swagger_username: str | None = None
    swagger_password: str | None = None

    def __post_init__(self) -> None:
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (leave it out for no key)")
        if self.api_key is not None and self.api_key.startswith("sha512:") \
                and not _SHA512.match(self.api_key):
            raise ValueError("api_key: `sha512:` must be followed by 128 hex digits (the SHA-512 "
                             "of the key)")
        for name in self.start_sessions:
            if not SESSION_NAME.match(name):
                raise ValueError(f"start_sessions: {name!r} is not a session name (1-64 of "
                                 "A-Z a-z 0-9 _ . -)")
        for path in self.api_key_exclude_paths:
            if not path.startswith("/"):
                raise ValueError(f"api_key_exclude_paths: {path!r} must start with /")
        if (self.swagger_username is None) != (self.swagger_password is None):
            raise ValueError("swagger_username and swagger_password go together")
        if self.proxy_server is not None and (not self.proxy_server.strip()
                                              or any(c.isspace() for c in self.proxy_server)):
            raise ValueError(f"proxy_server {self.proxy_server!r} must be host:port or a URL")

    @property
    def listen_host(self) -> str:
        if self.host is not None:
            return self.host
        return "0.0.0.0" if self.api_key is not None else "127.0.0.1"

    def url(self, port: int | None = None) -> str:
        """The API's URL as clients reach it (``port``: the one actually listened on)."""
        if self.base_url:
            return self.base_url.rstrip("/")
        host = self.host or ("localhost" if self.listen_host == "0.0.0.0" else self.listen_host)
        host = f"[{host}]" if ":" in host else host
        return f"{self.schema}://{host}:{self.port if port is None else port}"

    def key_matches(self, given: str) -> bool:
        """``given`` is the key (compared in constant time; ``sha512:`` keys by their hash)."""
        if self.api_key is None:
            return True
        raw = given.encode("utf-8", "surrogateescape")
        hashed = _SHA512.match(self.api_key)
        if hashed:
            return hmac.compare_digest(hashlib.sha512(raw).hexdigest(), hashed[1].lower())
        return hmac.compare_digest(raw, self.api_key.encode("utf-8", "surrogateescape"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(environ: Mapping[str, str], var: str) -> bool:
    text = environ[var].strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{var}: expected true or false, found {environ[var]!r}")


def _list(environ: Mapping[str, str], var: str) -> list[str]:
    return [item.strip() for item in environ[var].split(",") if item.strip()]


#: WAHA's variables: name -> (key in ``[api]``, kind).
ENV: dict[str, tuple[str, str]] = {
    ENV_HOST: ("host", "str"),
    "WHATSAPP_API_SCHEMA": ("schema", "lower"),
    "WAHA_BASE_URL": ("base_url", "str"),
    "WHATSAPP_API_KEY_EXCLUDE_PATH": ("api_key_exclude_paths", "list"),
    "WHATSAPP_DEFAULT_ENGINE": ("default_engine", "upper"),
    "WHATSAPP_START_SESSION": ("start_sessions", "list"),
    "WHATSAPP_RESTART_ALL_SESSIONS": ("restart_all_sessions", "bool"),
    "WAHA_WORKER_RESTART_SESSIONS": ("worker_restart_sessions", "bool"),
    "WAHA_AUTO_START_DELAY_SECONDS": ("auto_start_delay_seconds", "delay"),
    "WHATSAPP_PROXY_SERVER": ("proxy_server", "str"),
    "WHATSAPP_PROXY_SERVER_USERNAME": ("proxy_username", "str"),
    "WHATSAPP_PROXY_SERVER_PASSWORD": ("proxy_password", "str"),
    "WHATSAPP_SWAGGER_ENABLED": ("swagger_enabled", "bool"),
    "WHATSAPP_SWAGGER_USERNAME": ("swagger_username", "str"),
    "WHATSAPP_SWAGGER_PASSWORD": ("swagger_password", "str"),
    "HOOKWIRE_API_ENABLED": ("enabled", "bool"),
}


def api_from_env(raw: Any, environ: Mapping[str, str]) -> Any:
    raw = dict(raw or {})
    for var, (key, kind) in ENV.items():
        if not environ.get(var, "").strip():
            continue
        value: Any = environ[var].strip()
        if kind == "bool":
            value = _bool(environ, var)
        elif kind == "list":
            value = _list(environ, var)
        elif kind == "delay":
            value = env_number(environ, var, StartDelay)
        elif kind == "lower":
            value = value.lower()
        elif kind == "upper":
            value = value.upper()
        raw[key] = value
    keys = {var: environ[var] for var in (ENV_KEY, ENV_WAHA_KEY) if environ.get(var)}
    if len(set(keys.values())) > 1:
        raise ConfigError(f"{ENV_KEY} and {ENV_WAHA_KEY} are both set, to different keys: set one")
    if keys:
        raw["api_key"] = next(iter(keys.values()))
    # WAHA reads PORT first (Heroku and friends set it), then WHATSAPP_API_PORT.
    for var in ("PORT", ENV_PORT):
        if environ.get(var, "").strip():
            raw["port"] = env_number(environ, var, Port)
            break
    return raw


def check_api(config: ApiConfig, event_names: Collection[str]) -> None:
    del event_names
    if config.enabled and config.api_key is None and not is_loopback(config.listen_host):
        raise ConfigError(
            f"api.host: refusing to listen on {config.listen_host!r} without an API key: set "
            f"{ENV_KEY} (or {ENV_WAHA_KEY}, or api.api_key), or listen on 127.0.0.1")
