"""The delivery store between matching and dispatch: its records and its interface.

Small enough that a second backend (Redis Streams) can implement it. Statuses:
``pending`` (waiting for its next attempt), ``in_flight`` (claimed by a dispatcher),
``delivered``, ``dead`` (attempts exhausted or a non-retryable answer; re-sendable),
``disabled`` (its endpoint answered 410; kept, resumed when the endpoint is re-enabled).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, Protocol

import msgspec

Status = Literal["pending", "in_flight", "delivered", "dead", "disabled"]
STATUSES: tuple[str, ...] = ("pending", "in_flight", "delivered", "dead", "disabled")
FINAL_STATUSES = frozenset({"delivered", "dead", "disabled"})
EndpointState = Literal["active", "paused", "disabled"]


class StoredEvent(msgspec.Struct, frozen=True):
    id: str
    name: str
    session: str
    timestamp: int
    body: bytes


class NewDelivery(msgspec.Struct, frozen=True):
    id: str
    event_id: str
    endpoint: str
    url: str
    chat: str
    next_attempt_at: int
    status: Status = "pending"


class ClaimedDelivery(msgspec.Struct, frozen=True):
    """A delivery taken by a dispatcher for one attempt (status ``in_flight``)."""

    id: str
    event_id: str
    event_name: str
    session: str
    event_timestamp: int
    endpoint: str
    url: str
    #: Attempts so far (all time; numbers the next attempt).
    attempts: int
    #: Attempts spent of the current retry budget (reset by a manual re-send).
    tries: int
    body: bytes


class AttemptRecord(msgspec.Struct, frozen=True):
    """The outcome of one attempt, and the delivery's state after it."""

    delivery_id: str
    attempt: int
    started_at: int
    duration_ms: float
    status_code: int | None
    error: str | None
    response_body: str | None
    #: The delivery's new status.
    outcome: Status
    next_attempt_at: int | None


class EventDeliveries(msgspec.Struct):
    """A stored event: its name, session and the endpoints it has a delivery for."""

    name: str
    session: str
    endpoints: set[str]


class DeliveryRow(msgspec.Struct, kw_only=True):
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
    #: The delivery's place in the store's order (insertion), for keyset paging.
    seq: int = 0


class AttemptRow(msgspec.Struct, kw_only=True):
    attempt: int
    started_at: int
    duration_ms: float
    status: int | None
    error: str | None
    response_body: str | None


class EndpointRow(msgspec.Struct, kw_only=True):
    endpoint: str
    url: str
    state: str
    reason: str | None
    consecutive_failures: int
    last_success_at: int | None
    last_failure_at: int | None
    pending: int = 0
    dead: int = 0


class DeliveryFilter(msgspec.Struct, kw_only=True):
    status: str | None = None
    session: str | None = None
    event: str | None = None
    endpoint: str | None = None
    #: Unix ms: created at or after ``since``, at or before ``until``.
    since: int | None = None
    until: int | None = None
    limit: int = 100
    #: Keyset paging: only deliveries after this ``seq`` in the listing's order (before it
    #: when ``newest_first``).
    after_seq: int | None = None
    newest_first: bool = False


class DeliveryStore(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, events: list[StoredEvent], deliveries: list[NewDelivery]) -> None:
        """Persist events and their deliveries in one commit (idempotent per id)."""

    async def recover(self) -> int:
        """At start-up: ``in_flight`` rows (a crash or kill) become ``pending``; returns how many."""

    async def claim_due(self, endpoint: str, now: int, limit: int, per_chat: bool) -> list[ClaimedDelivery]:
        """Mark up to ``limit`` due pending deliveries of ``endpoint`` in flight and return them,
        oldest first. ``per_chat``: only the oldest unfinished delivery of each chat."""

    async def release(self, delivery_ids: list[str]) -> None:
        """Give claimed deliveries back (``pending``) without an attempt (shutdown)."""

    async def record(self, attempts: list[AttemptRecord]) -> None:
        """Store attempt outcomes in one commit."""

    async def next_due_at(self, endpoint: str) -> int | None: ...

    async def unfinished(self, endpoints: Collection[str] | None = None) -> int:
        """Deliveries that are neither delivered, dead nor held by a disabled endpoint (of
        ``endpoints`` only, when given: those of webhooks no longer configured wait forever)."""

    async def set_endpoint(self, endpoint: str, url: str, state: EndpointState,
                           reason: str | None, failures: int, success_at: int | None,
                           failure_at: int | None) -> None: ...

    async def endpoints(self) -> list[EndpointRow]: ...

    async def enable_endpoint(self, endpoint: str) -> int:
        """Re-enable: ``disabled`` deliveries become ``pending`` now; returns how many."""

    async def list_deliveries(self, flt: DeliveryFilter) -> list[DeliveryRow]:
        """Oldest first (newest first with ``flt.newest_first``), at most ``flt.limit``,
        after ``flt.after_seq``: the next page costs what the first one does."""
    async def get_delivery(self, delivery_id: str) -> tuple[DeliveryRow, list[AttemptRow]] | None: ...

    async def retry(self, delivery_ids: list[str] | None, flt: DeliveryFilter | None) -> int:
        """Make deliveries (by id, or dead ones matching ``flt``) ``pending`` now, with a fresh
        attempt budget; returns how many."""

    async def prune(self, delivered_before: int) -> int: ...
    async def counts(self) -> dict[str, int]: ...

    async def event_deliveries(self, event_ids: list[str]) -> dict[str, EventDeliveries]:
        """The events of ``event_ids`` that are stored, with their deliveries' endpoints (a
        resumed replay asks, through the sink, which of its events need nothing more)."""
