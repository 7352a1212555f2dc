"""The webhook plugin's config: ``[[webhooks]]`` (any number) and ``[delivery]``.

WAHA's global webhook comes from the environment (``webhook-contract.md`` §3.1): when
``WHATSAPP_HOOK_URL`` and ``WHATSAPP_HOOK_EVENTS`` are both set, one more webhook is appended
to the file's. Its errors name the variable.

The same rules hold wherever a webhook comes from (file, environment, API): every number has a
range (declared on the field, the environment variables use the same types), the URL passes
:func:`plugins.webhook.ssrf.parse_target`, custom headers never collide with the contract's
own (:func:`check_header`) nor carry CR, LF or NUL, and an HMAC key is never empty.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from yarl import URL

from core.config import ConfigError, env_number
from core.logging import get_logger, mask_credentials
from plugins.webhook.ssrf import parse_networks, parse_target

log = get_logger("plugins.webhook")

ENV = "WHATSAPP_HOOK_"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers hookwire sets itself (or HTTP itself needs); custom headers never override them.
RESERVED_HEADERS = frozenset(h.lower() for h in (
    "Content-Type", "User-Agent", "X-Webhook-Request-Id", "X-Webhook-Timestamp",
    "X-Webhook-Event", "X-Webhook-Attempt", "X-Webhook-Hmac", "X-Webhook-Hmac-Algorithm",
    "webhook-id", "webhook-timestamp", "webhook-signature", "Content-Length", "Host",
    "Transfer-Encoding",
))
#: Name prefixes of the contract's headers (WAHA's and Standard Webhooks'), present and future.
RESERVED_HEADER_PREFIXES = ("x-webhook-", "webhook-")
#: What a header value may not hold: CR and LF (a second header or request), NUL and the other
#: control characters (tab is allowed).
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# The ranges of the numbers (the environment variables use the same types).
DelaySeconds = Annotated[float, Meta(ge=0, le=86_400)]
#: The longest wait before a retry, also the cap of ``max_delay_seconds``: a week.
LongDelaySeconds = Annotated[float, Meta(ge=0, le=604_800)]
RetryAttempts = Annotated[int, Meta(ge=0, le=1000)]
TimeoutSeconds = Annotated[float, Meta(gt=0, le=600)]
Concurrency = Annotated[int, Meta(ge=1, le=1000)]
HttpStatus = Annotated[int, Meta(ge=100, le=599)]


def check_url(value: str) -> str:
    """A webhook URL (:func:`~plugins.webhook.ssrf.parse_target`), or ValueError saying what
    is wrong."""
    parse_target(value)
    return value


def check_header(name: str, value: str) -> None:
    """ValueError naming the problem when a custom header cannot be sent as given: not a valid
    name, a name the contract uses (``X-Webhook-*``, ``webhook-*``, ``Content-Type`` …), or a
    value with CR, LF, NUL or another control character."""
    if not _HEADER_NAME.match(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP header name")
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIXES):
        raise ValueError(f"header {name!r} is set by hookwire itself (the webhook contract's "
                         "X-Webhook-*, webhook-*, Content-Type, Content-Length, Host, User-Agent): "
                         "choose another name")
    bad = _BAD_HEADER_VALUE.search(value)
    if bad is not None:
        what = {"\r": "CR", "\n": "LF", "\x00": "NUL"}.get(bad.group(), f"control character U+{ord(bad.group()):04X}")
        raise ValueError(f"header {name!r}: the value holds a {what} at position {bad.start()} "
                         "(one header value is one line)")


def check_hmac_key(key: str | None) -> None:
    """An HMAC key that is given is not empty (it would sign with a key anyone can guess)."""
    if key is not None and not key.strip():
        raise ValueError("hmac_key is empty: an empty key signs nothing secret; leave it out for "
                         "no X-Webhook-Hmac")


def _without_userinfo(value: str) -> str:
    try:
        url = URL(value)
    except ValueError:
        return mask_credentials(value)
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
    #: 0 to 86,400 (a day), as WAHA's API takes.
    delay_seconds: DelaySeconds = 2.0
    #: Retries after the first try (WAHA: 15, so 16 POSTs at most); 0 to 1,000.
    attempts: RetryAttempts = 15
    #: An explicit list of delays (seconds, each 0 to 604,800) before retry 1, 2 …, at most
    #: 1,000 of them; overrides policy and attempts.
    schedule: Annotated[list[LongDelaySeconds], Meta(max_length=1000)] | None = None
    #: No delay is longer (0 to 604,800 seconds, a week).
    max_delay_seconds: LongDelaySeconds = 3600.0
    #: Fraction of random spread on exponential delays (0.2 = ±20 %), 0 <= jitter < 1.
    jitter: Annotated[float, Meta(ge=0, lt=1)] = 0.2


class CircuitBreakerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Consecutive failed attempts that pause the endpoint (0 turns the breaker off), to 10,000.
    failures: Annotated[int, Meta(ge=0, le=10_000)] = 10
    #: While paused, one probe attempt this often (> 0 to 86,400 seconds).
    probe_seconds: Annotated[float, Meta(gt=0, le=86_400)] = 30.0


class WebhookConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    #: Event names, or ``*`` for all but ``engine.event``.
    events: list[str]
    #: A stable name (the endpoint's identity in the store); default: the URL.
    name: str | None = None
    #: Sessions this webhook applies to (``*`` = all).
    sessions: list[str] = msgspec.field(default_factory=lambda: ["*"])
    #: Never empty (leave it out for no ``X-Webhook-Hmac``).
    hmac_key: str | None = None
    hmac_algorithm: Literal["sha512", "sha256"] = "sha512"
    #: Standard Webhooks secrets (``whsec_…``); several sign in parallel (rotation).
    secrets: list[str] = []
    retries: RetryConfig = msgspec.field(default_factory=RetryConfig)
    #: Of one attempt, > 0 to 600 seconds.
    timeout_seconds: TimeoutSeconds = 15.0
    #: Sent with every attempt (at most 100); never one of the contract's own headers
    #: (``X-Webhook-*``, ``webhook-*``, ``Content-Type`` …), never a CR, LF or NUL in a value.
    headers: Annotated[dict[str, str], Meta(max_length=100)] = {}
    #: Requests in flight at once to this endpoint, 1 to 1,000.
    concurrency: Concurrency = 8
    #: ``chat``: FIFO per (session, chat): a later event waits for an earlier one to be final.
    ordering: Literal["none", "chat"] = "none"
    verify_tls: bool = True
    #: Statuses that fail at once, without retries (e.g. [400, 401, 404, 422]).
    non_retryable_statuses: Annotated[list[HttpStatus], Meta(max_length=500)] = []
    circuit_breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    #: Where this webhook came from (``file``, ``env``, or ``api``: set over the HTTP API for one
    #: session, untrusted, see ``ssrf.py``); set by hookwire.
    origin: Literal["file", "env", "api"] = "file"

    def __post_init__(self) -> None:
        check_url(self.url)
        if not self.events:
            raise ValueError("events must name at least one event (or `*`)")
        check_hmac_key(self.hmac_key)
        for secret in self.secrets:
            check_secret(secret)
        seen: dict[str, str] = {}
        for header, value in self.headers.items():
            check_header(header, value)
            if header.lower() in seen:
                raise ValueError(f"headers {seen[header.lower()]!r} and {header!r} are one header "
                                 "(names are case-insensitive): keep one")
            seen[header.lower()] = header

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
    #: Delivered rows are kept this long, then pruned in the background (0 to 87,600: ten years).
    retention_hours: Annotated[float, Meta(ge=0, le=87_600)] = 72.0
    #: Largest number of events written to the store in one commit, 1 to 10,000.
    batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 512
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
    #: over by another worker (``XAUTOCLAIM``); live workers renew their claims. 1 to 3,600.
    redis_reclaim_seconds: Annotated[float, Meta(ge=1, le=3600)] = 30.0
    #: Redis unreachable: ``buffer`` new deliveries in memory (up to ``redis_buffer_events``
    #: events, then block), or ``block`` intake at once. Workers wait and reconnect either way.
    redis_outage: Literal["buffer", "block"] = "buffer"
    #: 0 to 1,000,000 events.
    redis_buffer_events: Annotated[int, Meta(ge=0, le=1_000_000)] = 10_000
    #: The SQLite store's durability (WAL): ``normal`` survives a crash or ``kill -9`` of the
    #: process; ``full`` also a power cut or an OS crash (every commit is synced; slower).
    sqlite_synchronous: Literal["normal", "full"] = "normal"

    def __post_init__(self) -> None:
        parse_networks(self.allow_networks)
        if self.redis_url.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError(f"redis_url: expected redis://, rediss:// or unix://, found "
                             f"{_without_userinfo(self.redis_url)!r}")


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        name, sep, value = entry.partition(":")  # the first ':' splits; values may hold ':'
        if not sep or not name.strip():
            raise ConfigError(f"{ENV}CUSTOM_HEADERS: entry {entry!r} is not `Name:Value` "
                              "(entries are separated by `;`)")
        name, value = name.strip(), value.strip()
        try:
            check_header(name, value)
        except ValueError as exc:
            raise ConfigError(f"{ENV}CUSTOM_HEADERS: {exc}") from None
        if name.lower() in {h.lower() for h in headers}:
            raise ConfigError(f"{ENV}CUSTOM_HEADERS: header {name!r} is given twice (names are "
                              "case-insensitive)")
        headers[name] = value
    return headers


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
        try:
            check_hmac_key(environ[ENV + "HMAC_KEY"])
        except ValueError as exc:
            raise ConfigError(f"{ENV}HMAC_KEY: {exc}") from None
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
        retries["delay_seconds"] = env_number(environ, ENV + "RETRIES_DELAY_SECONDS", DelaySeconds)
    if environ.get(ENV + "RETRIES_ATTEMPTS"):
        retries["attempts"] = env_number(environ, ENV + "RETRIES_ATTEMPTS", RetryAttempts)
    if retries:
        hook["retries"] = retries
    if environ.get(ENV + "TIMEOUT_SECONDS"):
        hook["timeout_seconds"] = env_number(environ, ENV + "TIMEOUT_SECONDS", TimeoutSeconds)
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
