"""The delivery side, as other plugins see it: one protocol and its records.

A plugin that delivers events (the webhook plugin) offers a :class:`DeliveryService` to the
others by registering it from its ``hookwire_register_sinks`` hook::

    registry.add_service(DELIVERY_SERVICE, service)

and a plugin that needs delivery (the HTTP API) finds it with
``registry.service(DELIVERY_SERVICE)`` once every sink is registered (from its sink's ``run``).
The records below are all it ever sees: the store, the dispatcher and the webhook config of
the delivering plugin stay free to change. URLs in every record are shown without credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import msgspec

#: The name the delivery service is registered under.
DELIVERY_SERVICE = "delivery"

DeliveryStatus = Literal["pending", "in_flight", "delivered", "dead", "disabled"]
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "in_flight", "delivered", "dead", "disabled")


class WebhookError(ValueError):
    """A webhook target that cannot be used. ``index`` is its position in the list given,
    ``field`` where in it the problem is (``url``, ``events[1]``, ``retries.attempts`` …,
    empty for the whole webhook)."""

    def __init__(self, message: str, index: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.index = index
        self.field = field


class WebhookRetries(msgspec.Struct, kw_only=True, frozen=True):
    """WAHA's ``retries``; ``None`` keeps the delivering plugin's default."""

    policy: Literal["constant", "linear", "exponential"] | None = None
    delay_seconds: float | None = None
    attempts: int | None = None


class WebhookTarget(msgspec.Struct, kw_only=True, frozen=True):
    """A webhook that applies to one session only (set over the API: untrusted, so the
    delivering plugin applies its checks of where a URL may point)."""

    url: str
    events: list[str]
    #: A stable name (the endpoint's identity); default: the URL.
    name: str | None = None
    #: WAHA's ``hmac.key``: adds ``X-Webhook-Hmac``.
    hmac_key: str | None = None
    retries: WebhookRetries | None = None
    #: WAHA's ``customHeaders``, by name.
    headers: dict[str, str] = {}
    #: Standard Webhooks secrets (``whsec_…``), several for rotation.
    secrets: list[str] = []


DeliveryOrder = Literal["oldest", "newest"]


class DeliveryQuery(msgspec.Struct, kw_only=True, frozen=True):
    status: DeliveryStatus | None = None
    session: str | None = None
    event: str | None = None
    #: An endpoint's name or URL.
    endpoint: str | None = None
    #: Unix ms: created at or after.
    since: int | None = None
    #: Unix ms: created at or before.
    until: int | None = None
    limit: int = 100
    #: ``oldest`` first (the store's order) or ``newest`` first.
    order: DeliveryOrder = "oldest"
    #: Where the previous page ended (its :attr:`DeliveryPage.next_cursor`); opaque.
    cursor: str | None = None


class DeliveryRecord(msgspec.Struct, kw_only=True):
    id: str
    event_id: str
    event_name: str
    session: str
    endpoint: str
    url: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int


class DeliveryPage(msgspec.Struct, kw_only=True):
    """One page of a listing: ask for the next one with ``cursor = next_cursor`` (and the same
    filters and order); ``next_cursor`` is null once there is nothing more."""

    deliveries: list[DeliveryRecord]
    next_cursor: str | None


class CursorError(ValueError):
    """A cursor that no listing gave out."""


class DeliveryAttempt(msgspec.Struct, kw_only=True):
    attempt: int
    started_at: int
    duration_ms: float
    status: int | None
    error: str | None
    response_body: str | None


class DeliveryDetail(DeliveryRecord, kw_only=True):
    attempt_log: list[DeliveryAttempt]


class EndpointRecord(msgspec.Struct, kw_only=True):
    endpoint: str
    url: str
    state: str
    reason: str | None
    consecutive_failures: int
    last_success_at: int | None
    last_failure_at: int | None
    pending: int
    dead: int


class EndpointEnabled(msgspec.Struct, kw_only=True):
    endpoint: str
    #: Held deliveries queued again.
    queued: int


class DeliveryHealth(msgspec.Struct, kw_only=True):
    pending: int
    in_flight: int
    dead: int
    #: Age of the oldest delivery not final yet (seconds), null when there is none.
    oldest_pending_age_seconds: float | None
    #: How long the most overdue delivery has been due without an attempt (seconds).
    max_overdue_seconds: float | None
    #: Active endpoints with a delivery due for longer than the limit asked for.
    stuck_endpoints: list[str]
    paused_endpoints: list[str]
    disabled_endpoints: list[str]


class DeliveryStats(msgspec.Struct, kw_only=True):
    """Numbers for metrics: deliveries by status, the oldest unfinished one, and the attempt
    outcomes of this process (by the delivery's state after the attempt)."""

    counts: dict[str, int]
    oldest_unfinished_at: int | None
    attempt_outcomes: dict[str, int]


class FetchError(ValueError):
    """A URL given by an API client that could not be fetched. ``kind``: ``refused`` (not
    http(s), or its host is in a refused range: the same guard as webhook targets),
    ``too_large`` (over the size limit), ``timeout``, ``failed`` (no answer, an HTTP error)."""

    def __init__(self, kind: Literal["refused", "too_large", "timeout", "failed"],
                 message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class FetchedFile(msgspec.Struct, kw_only=True):
    """What :meth:`DeliveryService.fetch_untrusted` brought back."""

    data: bytes
    #: The answer's ``Content-Type`` (without parameters), if it had one.
    mimetype: str | None = None
    #: From ``Content-Disposition``, else the last part of the URL's path, if any.
    filename: str | None = None


@runtime_checkable
class DeliveryService(Protocol):
    """What a delivering plugin offers. Methods that read or change stored deliveries work
    between :meth:`open` and :meth:`close` (the caller opens it for as long as it needs it);
    they may raise for a store that cannot be reached."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def check_webhooks(self, session: str, targets: Sequence[WebhookTarget]) -> None:
        """Raise :class:`WebhookError` for the first target that cannot be used for
        ``session``: a bad URL or one whose host is refused, an unknown event name, a bad
        header, secret or retry setting, two targets with the same endpoint."""

    async def set_session_webhooks(self, session: str, targets: Sequence[WebhookTarget]) -> None:
        """Replace the webhooks of ``session`` (checked as :meth:`check_webhooks`; raises
        :class:`WebhookError`). Applies from the next event published; webhooks of the config
        file and the environment are unaffected. May be called before the service runs."""

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        """In ``query.order``, at most ``query.limit``, after ``query.cursor``: the
        deliveries of :meth:`page_deliveries`."""

    async def page_deliveries(self, query: DeliveryQuery) -> DeliveryPage:
        """One page (keyset paging: every page costs what the first does, however many rows
        the store holds). Raises :class:`CursorError` for a cursor it did not give out."""

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail | None: ...

    async def retry(self, delivery_ids: Sequence[str] | None, query: DeliveryQuery | None) -> int:
        """Re-send deliveries by id (dead or delivered ones), or every dead one matching
        ``query``, with a fresh attempt budget; returns how many were queued."""

    async def endpoints(self) -> list[EndpointRecord]: ...

    async def enable_endpoint(self, endpoint: str) -> EndpointEnabled | None:
        """Re-enable a disabled or paused endpoint (by name or URL); ``None`` when unknown."""

    async def health(self, stuck_after_seconds: float) -> DeliveryHealth:
        """Is delivery making progress: an active, configured endpoint with a delivery due
        for longer than ``stuck_after_seconds`` without an attempt is stuck."""

    async def stats(self) -> DeliveryStats: ...

    async def fetch_untrusted(self, url: str, *, max_bytes: int, timeout: float) -> FetchedFile:
        """GET ``url`` (given by an API client, so untrusted) through the same guard as
        untrusted webhook targets (no private, loopback or link-local address unless the
        operator allows it, checked at connect time), at most ``max_bytes`` of body and
        ``timeout`` seconds in all; raise :class:`FetchError`. Works without :meth:`open`."""
