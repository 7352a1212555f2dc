"""The webhook plugin's config: ``[[webhooks]]`` (any number) and ``[delivery]``.

WAHA's global webhook comes from the environment (``webhook-contract.md`` §3.1): when
``WHATSAPP_HOOK_URL`` and ``WHATSAPP_HOOK_EVENTS`` are both set, one more webhook is appended
to the file's. Its errors name the variable.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal

import msgspec
from yarl import URL

from core.config import ConfigError
from core.logging import get_logger
from plugins.webhook.ssrf import parse_networks

log = get_logger("plugins.webhook")

ENV = "WHATSAPP_HOOK_"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers hookwire sets itself; custom headers never override them.
RESERVED_HEADERS = frozenset(h.lower() for h in (
    "Content-Type", "User-Agent", "X-Webhook-Request-Id", "X-Webhook-Timestamp",
    "X-Webhook-Event", "X-Webhook-Attempt", "X-Webhook-Hmac", "X-Webhook-Hmac-Algorithm",
    "webhook-id", "webhook-timestamp", "webhook-signature", "Content-Length", "Host",
))


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host, or ValueError saying what is wrong."""
    try:
        url = URL(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"expected an http(s) URL, found {value!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http(s) URL like https://example.com/hook, found {value!r}")
    return value


def _without_userinfo(value: str) -> str:
    url = URL(value)
    return str(url.with_user(None)) if url.user or url.password else value


def check_secret(secret: str) -> bytes:
    """The key bytes of a Standard Webhooks ``whsec_…`` secret (base64 after the prefix)."""
    body = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is `whsec_` + base64; this one is not base64") from None
    if len(key) < 16:
        raise ValueError("a Standard Webhooks secret must hold at least 16 bytes")
    return key


class RetryConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: ``constant``: d, d …; ``linear``: n·d; ``exponential``: d·2^(n-1) ± jitter.
    policy: Literal["constant", "linear", "exponential"] = "constant"
    delay_seconds: float = 2.0
    #: Retries after the first try (WAHA: 15, so 16 POSTs at most).
    attempts: int = 15
    #: An explicit list of delays (seconds) before retry 1, 2 …; overrides policy and attempts.
    schedule: list[float] | None = None
    max_delay_seconds: float = 3600.0
    #: Fraction of random spread on exponential delays (0.2 = ±20 %).
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.delay_seconds < 0 or self.max_delay_seconds < 0:
            raise ValueError("delays must be >= 0")
        if self.attempts < 0:
            raise ValueError("attempts must be >= 0")
        if self.schedule is not None and any(d < 0 for d in self.schedule):
            raise ValueError("schedule delays must be >= 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


class CircuitBreakerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Consecutive failed attempts that pause the endpoint (0 turns the breaker off).
    failures: int = 10
    #: While paused, one probe attempt this often.
    probe_seconds: float = 30.0


class WebhookConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    #: Event names, or ``*`` for all but ``engine.event``.
    events: list[str]
    #: A stable name (the endpoint's identity in the store); default: the URL.
    name: str | None = None
    #: Sessions this webhook applies to (``*`` = all).
    sessions: list[str] = msgspec.field(default_factory=lambda: ["*"])
    hmac_key: str | None = None
    hmac_algorithm: Literal["sha512", "sha256"] = "sha512"
    #: Standard Webhooks secrets (``whsec_…``); several sign in parallel (rotation).
    secrets: list[str] = []
    retries: RetryConfig = msgspec.field(default_factory=RetryConfig)
    timeout_seconds: float = 15.0
    headers: dict[str, str] = {}
    #: Requests in flight at once to this endpoint.
    concurrency: int = 8
    #: ``chat``: FIFO per (session, chat): a later event waits for an earlier one to be final.
    ordering: Literal["none", "chat"] = "none"
    verify_tls: bool = True
    #: Statuses that fail at once, without retries (e.g. [400, 401, 404, 422]).
    non_retryable_statuses: list[int] = []
    circuit_breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    #: Where this webhook came from (``file``, ``env``, or ``api``: set over the HTTP API for one
    #: session, untrusted, see ``ssrf.py``); set by hookwire.
    origin: Literal["file", "env", "api"] = "file"

    def __post_init__(self) -> None:
        check_url(self.url)
        if not self.events:
            raise ValueError("events must name at least one event (or `*`)")
        for secret in self.secrets:
            check_secret(secret)
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        for header in self.headers:
            if not _HEADER_NAME.match(header):
                raise ValueError(f"header name {header!r} is not a valid HTTP header name")
        for status in self.non_retryable_statuses:
            if not 100 <= status <= 599:
                raise ValueError(f"non_retryable_statuses: {status} is not an HTTP status")

    @property
    def key(self) -> str:
        """The endpoint's identity in the store. A webhook set over the API belongs to one
        session (``sessions == [session]``): its key is ``<session>/<name or URL>`` (the URL
        without credentials), so two sessions posting to one URL with their own secrets are
        two endpoints."""
        if self.origin == "api":
            return f"{self.sessions[0]}/{self.name or _without_userinfo(self.url)}"
        return self.name or self.url


class DeliveryConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: With no webhook configured, deliver to a receiver built into the process (the demo).
    demo_receiver: bool = False
    #: The SQLite store (default: ``<data_dir>/deliveries.sqlite3``).
    store_path: str | None = None
    #: Delivered rows are kept this long, then pruned in the background.
    retention_hours: float = 72.0
    #: Largest number of events written to the store in one commit.
    batch_size: int = 512
    #: Networks that webhooks set over the API may reach although they are private, loopback
    #: etc. (e.g. ``["10.0.0.0/8"]``). Config-file and env webhooks are trusted regardless.
    allow_networks: list[str] = []
    #: ``sqlite``: one file, one host. ``redis``: Redis Streams, for engines and delivery
    #: workers on any number of hosts (``pip install 'hookwire[redis]'``).
    backend: Literal["sqlite", "redis"] = "sqlite"
    #: The Redis server (``redis://[:password@]host:port/db``, ``rediss://`` for TLS, ``unix://``).
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of every Redis key hookwire writes (deployments can share one server).
    redis_prefix: str = "hookwire"
    #: A delivery claimed by a worker that has shown no sign of life for this long is taken
    #: over by another worker (``XAUTOCLAIM``); live workers renew their claims.
    redis_reclaim_seconds: float = 30.0
    #: Redis unreachable: ``buffer`` new deliveries in memory (up to ``redis_buffer_events``
    #: events, then block), or ``block`` intake at once. Workers wait and reconnect either way.
    redis_outage: Literal["buffer", "block"] = "buffer"
    redis_buffer_events: int = 10_000
    #: The SQLite store's durability (WAL): ``normal`` survives a crash or ``kill -9`` of the
    #: process; ``full`` also a power cut or an OS crash (every commit is synced; slower).
    sqlite_synchronous: Literal["normal", "full"] = "normal"

    def __post_init__(self) -> None:
        parse_networks(self.allow_networks)
        if self.redis_url.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError(f"redis_url: expected redis://, rediss:// or unix://, found "
                             f"{_without_userinfo(self.redis_url)!r}")
        if self.redis_reclaim_seconds <= 0:
            raise ValueError("redis_reclaim_seconds must be > 0")
        if self.redis_buffer_events < 0:
            raise ValueError("redis_buffer_events must be >= 0")


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        name, sep, value = entry.partition(":")  # the first ':' splits; values may hold ':'
        if not sep or not name.strip():
            raise ConfigError(f"{ENV}CUSTOM_HEADERS: entry {entry!r} is not `Name:Value` "
                              "(entries are separated by `;`)")
        if not _HEADER_NAME.match(name.strip()):
            raise ConfigError(f"{ENV}CUSTOM_HEADERS: {name.strip()!r} is not a valid header name")
        headers[name.strip()] = value.strip()
    return headers


def _number(environ: Mapping[str, str], var: str, kind: type) -> Any:
    text = environ[var].strip()
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{var}: expected {'an integer' if kind is int else 'a number'}, "
                          f"found {text!r}") from None
    if value < 0:
        raise ConfigError(f"{var}: expected a value >= 0, found {text!r}")
    return value


def webhooks_from_env(raw: Any, environ: Mapping[str, str]) -> Any:
    """Append WAHA's global webhook (``WHATSAPP_HOOK_*``) to the file's ``[[webhooks]]``."""
    url, events = environ.get(ENV + "URL", "").strip(), environ.get(ENV + "EVENTS", "").strip()
    if not url and not events:
        return raw
    if not url or not events:
        missing = ENV + ("EVENTS" if url else "URL")
        log.warning("global webhook not configured: both variables are needed", missing=missing)
        return raw
    try:
        check_url(url)
    except ValueError as exc:
        raise ConfigError(f"{ENV}URL: {exc}") from None
    hook: dict[str, Any] = {
        "url": url,
        "events": [e.strip() for e in events.split(",") if e.strip()],
        "origin": "env",
    }
    if environ.get(ENV + "HMAC_KEY"):
        hook["hmac_key"] = environ[ENV + "HMAC_KEY"]
    if environ.get(ENV + "SECRET"):
        secrets = environ[ENV + "SECRET"].split()  # space-separated: rotation
        for secret in secrets:
            try:
                check_secret(secret)
            except ValueError as exc:
                raise ConfigError(f"{ENV}SECRET: {exc}") from None
        hook["secrets"] = secrets
    retries: dict[str, Any] = {}
    if environ.get(ENV + "RETRIES_POLICY"):
        policy = environ[ENV + "RETRIES_POLICY"].strip().lower()
        if policy not in ("constant", "linear", "exponential"):
            raise ConfigError(f"{ENV}RETRIES_POLICY: expected one of constant, linear, "
                              f"exponential, found {environ[ENV + 'RETRIES_POLICY']!r}")
        retries["policy"] = policy
    if environ.get(ENV + "RETRIES_DELAY_SECONDS"):
        retries["delay_seconds"] = _number(environ, ENV + "RETRIES_DELAY_SECONDS", float)
    if environ.get(ENV + "RETRIES_ATTEMPTS"):
        retries["attempts"] = _number(environ, ENV + "RETRIES_ATTEMPTS", int)
    if retries:
        hook["retries"] = retries
    if environ.get(ENV + "TIMEOUT_SECONDS"):
        hook["timeout_seconds"] = _number(environ, ENV + "TIMEOUT_SECONDS", float) or 15.0
    if environ.get(ENV + "CUSTOM_HEADERS"):
        hook["headers"] = _parse_headers(environ[ENV + "CUSTOM_HEADERS"])
    return [*(raw or []), hook]


def check_webhooks(webhooks: list[WebhookConfig], event_names: Collection[str]) -> None:
    """Event names must exist; endpoint names must be unique."""
    valid = set(event_names)
    keys: set[str] = set()
    for index, hook in enumerate(webhooks):
        where = f"{ENV}EVENTS" if hook.origin == "env" else f"webhooks[{index}].events"
        for name in hook.events:
            if name != "*" and name not in valid:
                raise ConfigError(f"{where}: unknown event name {name!r} "
                                  f"(valid: *, {', '.join(sorted(valid))})")
        if hook.key in keys:
            raise ConfigError(f"webhooks[{index}]: two webhooks share the endpoint {hook.key!r}; "
                              "give each a distinct `name`")
        keys.add(hook.key)
