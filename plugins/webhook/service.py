"""The webhook plugin's one door for other plugins: :class:`core.delivery.DeliveryService`.

Everything another plugin (the HTTP API) does with deliveries and webhooks goes through
:class:`WebhookDeliveryService`: it turns the store's rows into the records of
``core.delivery``, session webhooks into :class:`~plugins.webhook.config.WebhookConfig` for
the running sink, and answers health and metrics questions. It only calls the store's public
methods (``store.py``) and the sink's public ones, so either can change inside.

It opens its own connection to the store (the sink's is the sink's), for as long as its
caller keeps it open.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from core.delivery import (
    CursorError,
    DeliveryAttempt,
    DeliveryDetail,
    DeliveryHealth,
    DeliveryPage,
    DeliveryQuery,
    DeliveryRecord,
    DeliveryStats,
    EndpointEnabled,
    EndpointRecord,
    FetchedFile,
    WebhookError,
    WebhookTarget,
)
from core.registry import Registry
from plugins.webhook.config import WebhookConfig, check_header, check_hmac_key
from plugins.webhook.http import redact_url
from plugins.webhook.media_fetch import fetch_untrusted
from plugins.webhook.sink import WebhookSink, open_store
from plugins.webhook.ssrf import check_url_allowed
from plugins.webhook.store import DeliveryFilter, DeliveryRow, DeliveryStore

#: hookwire's field names in :class:`WebhookConfig` -> WAHA's, for error paths.
_WAHA_FIELDS = {"hmac_key": "hmac.key", "headers": "customHeaders",
                "retries.delay_seconds": "retries.delaySeconds"}
_MSGSPEC_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


#: A cursor: ``p`` and the ``seq`` of the last delivery of the page before.
_CURSOR = re.compile(r"^p([0-9]{1,18})$")


def _after_seq(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    match = _CURSOR.match(cursor)
    if match is None:
        raise CursorError(f"{cursor!r} is not a cursor a listing gave out")
    return int(match[1])


def _filter(query: DeliveryQuery) -> DeliveryFilter:
    return DeliveryFilter(status=query.status, session=query.session, event=query.event,
                          endpoint=query.endpoint, since=query.since, until=query.until,
                          limit=query.limit, after_seq=_after_seq(query.cursor),
                          newest_first=query.order == "newest")


def _record(row: DeliveryRow) -> DeliveryRecord:
    fields = msgspec.structs.asdict(row)
    del fields["seq"]
    fields["url"], fields["endpoint"] = redact_url(row.url), redact_url(row.endpoint)
    return DeliveryRecord(**fields)


def _waha_path(path: str) -> str:
    path = path.lstrip(".")
    for ours, theirs in _WAHA_FIELDS.items():
        if path == ours or path.startswith(ours + "."):
            return theirs + path[len(ours):]
    return path


class WebhookDeliveryService:
    """:class:`core.delivery.DeliveryService` over the webhook sink and its store."""

    def __init__(self, registry: Registry, sink: WebhookSink) -> None:
        assert registry.config is not None
        self.registry = registry
        self.sink = sink
        self.config = registry.config
        self._store: DeliveryStore | None = None

    @property
    def store(self) -> DeliveryStore:
        if self._store is None:
            raise RuntimeError("the delivery service is not open")
        return self._store

    @property
    def is_open(self) -> bool:
        return self._store is not None

    async def open(self) -> None:
        """Connect to the store (made here, not before: most processes never open it)."""
        if self._store is None:
            store = open_store(self.config)
            await store.open()
            self._store = store

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()

    # -- webhooks of a session -------------------------------------------------------------

    def _configs(self, session: str, targets: Sequence[WebhookTarget]) -> list[WebhookConfig]:
        known = set(self.registry.event_types.names())
        allow = self.config.section("delivery").allow_networks
        hooks: list[WebhookConfig] = []
        keys: set[str] = set()
        static_keys = {hook.key for hook in self.sink.routing.static}
        for index, target in enumerate(targets):
            if not target.events:
                raise WebhookError("events must name at least one event (or `*`)", index, "events")
            for position, name in enumerate(target.events):
                if name != "*" and name not in known:
                    raise WebhookError(f"unknown event name {name!r}", index, f"events[{position}]")
            try:
                check_url_allowed(target.url, allow)
            except ValueError as exc:
                raise WebhookError(str(exc), index, "url") from None
            for position, (header, value) in enumerate(target.headers.items()):
                try:
                    check_header(header, value)
                except ValueError as exc:
                    raise WebhookError(str(exc), index, f"customHeaders[{position}]") from None
            try:
                check_hmac_key(target.hmac_key)
            except ValueError as exc:
                raise WebhookError(str(exc), index, "hmac.key") from None
            raw: dict[str, Any] = {"url": target.url, "events": list(target.events),
                                   "sessions": [session], "origin": "api",
                                   "headers": dict(target.headers), "secrets": list(target.secrets)}
            if target.name:
                raw["name"] = target.name
            if target.hmac_key:
                raw["hmac_key"] = target.hmac_key
            if target.retries is not None:
                retries = {"policy": target.retries.policy,
                           "delay_seconds": target.retries.delay_seconds,
                           "attempts": target.retries.attempts}
                raw["retries"] = {k: v for k, v in retries.items() if v is not None}
            try:
                hook = msgspec.convert(raw, WebhookConfig)
            except msgspec.ValidationError as exc:
                match = _MSGSPEC_AT.match(str(exc))
                assert match is not None  # the pattern matches any text
                message = match["msg"]
                raise WebhookError(message[:1].lower() + message[1:], index,
                                   _waha_path(match["path"] or "")) from None
            if hook.key in keys:
                raise WebhookError(f"two webhooks share the endpoint {redact_url(hook.key)!r}; "
                                   "give each a distinct `name`", index)
            if hook.key in static_keys:
                raise WebhookError(f"the endpoint {redact_url(hook.key)!r} belongs to a webhook of "
                                   "the config file; give this one another `name`", index)
            keys.add(hook.key)
            hooks.append(hook)
        return hooks

    def check_webhooks(self, session: str, targets: Sequence[WebhookTarget]) -> None:
        self._configs(session, targets)

    async def set_session_webhooks(self, session: str, targets: Sequence[WebhookTarget]) -> None:
        hooks = self._configs(session, targets)
        try:
            await self.sink.set_session_webhooks(session, hooks)
        except ValueError as exc:  # the sink's own checks (endpoint keys)
            raise WebhookError(str(exc)) from None

    # -- deliveries and endpoints ----------------------------------------------------------

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        return (await self.page_deliveries(query)).deliveries

    async def page_deliveries(self, query: DeliveryQuery) -> DeliveryPage:
        rows = await self.store.list_deliveries(_filter(query))
        more = len(rows) >= query.limit and rows[-1].seq > 0
        return DeliveryPage(deliveries=[_record(row) for row in rows],
                            next_cursor=f"p{rows[-1].seq}" if more else None)

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail | None:
        found = await self.store.get_delivery(delivery_id)
        if found is None:
            return None
        row, attempts = found
        return DeliveryDetail(**msgspec.structs.asdict(_record(row)),
                              attempt_log=[DeliveryAttempt(**msgspec.structs.asdict(a))
                                           for a in attempts])

    async def retry(self, delivery_ids: Sequence[str] | None, query: DeliveryQuery | None) -> int:
        flt = None if query is None else msgspec.structs.replace(
            _filter(query), after_seq=None, newest_first=False)
        return await self.store.retry(None if delivery_ids is None else list(delivery_ids), flt)

    async def endpoints(self) -> list[EndpointRecord]:
        records = []
        for row in await self.store.endpoints():
            fields = msgspec.structs.asdict(row)
            fields["url"], fields["endpoint"] = redact_url(row.url), redact_url(row.endpoint)
            records.append(EndpointRecord(**fields))
        return records

    async def enable_endpoint(self, endpoint: str) -> EndpointEnabled | None:
        queued = await self.store.enable_endpoint(endpoint)
        if queued < 0:
            return None
        return EndpointEnabled(endpoint=redact_url(endpoint), queued=queued)

    # -- health and metrics ----------------------------------------------------------------

    async def _oldest_unfinished_at(self) -> int | None:
        oldest: int | None = None
        for status in ("pending", "in_flight"):
            rows = await self.store.list_deliveries(DeliveryFilter(status=status, limit=1))
            if rows and (oldest is None or rows[0].created_at < oldest):
                oldest = rows[0].created_at
        return oldest

    async def health(self, stuck_after_seconds: float) -> DeliveryHealth:
        """Paused and disabled endpoints hold deliveries on purpose: listed, not stuck.
        Endpoints no longer configured are left out (their deliveries wait for the webhook to
        come back). A delivery due in the store counts from when it was due; one this process has
        claimed counts from when its worker's senders last took one (all busy on attempts that
        do not end: a black hole); claims of other processes count as attempted."""
        now = now_ms()
        counts = await self.store.counts()
        oldest = await self._oldest_unfinished_at()
        configured = set(self.sink.workers)
        stuck: list[str] = []
        paused: list[str] = []
        disabled: list[str] = []
        max_overdue: float | None = None
        for row in await self.store.endpoints():
            shown = redact_url(row.endpoint)
            if row.state == "paused":
                paused.append(shown)
                continue
            if row.state == "disabled":
                disabled.append(shown)
                continue
            if row.endpoint not in configured:
                continue
            due = await self.store.next_due_at(row.endpoint)
            overdue_ms = None if due is None or due > now else now - due
            waiting = self.sink.workers[row.endpoint].waiting_ms(now)
            if waiting is not None and (overdue_ms is None or waiting > overdue_ms):
                overdue_ms = waiting  # claimed, queued here, and no sender takes them
            if overdue_ms is None:
                continue
            overdue = overdue_ms / 1000
            max_overdue = overdue if max_overdue is None else max(max_overdue, overdue)
            if overdue > stuck_after_seconds:
                stuck.append(shown)
        return DeliveryHealth(
            pending=counts.get("pending", 0), in_flight=counts.get("in_flight", 0),
            dead=counts.get("dead", 0),
            oldest_pending_age_seconds=None if oldest is None else max(0.0, (now - oldest) / 1000),
            max_overdue_seconds=max_overdue, stuck_endpoints=stuck, paused_endpoints=paused,
            disabled_endpoints=disabled)

    async def stats(self) -> DeliveryStats:
        recorder = self.sink.recorder
        return DeliveryStats(counts=await self.store.counts(),
                             oldest_unfinished_at=await self._oldest_unfinished_at(),
                             attempt_outcomes=dict(recorder.outcomes) if recorder else {})

    async def fetch_untrusted(self, url: str, *, max_bytes: int, timeout: float) -> FetchedFile:
        return await fetch_untrusted(url, max_bytes=max_bytes, timeout=timeout,
                                     allow_networks=self.config.section("delivery").allow_networks)
