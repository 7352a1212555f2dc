"""The Redis store's endpoint rows, counts and the operator's side: listing, showing, re-sending,
pruning (what ``deliveries``/``endpoints`` and the API use). A mixin of
:class:`~plugins.webhook.redis_store.RedisDeliveryStore`, split off to keep modules small."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec

from plugins.webhook.redis_listing import RedisListing
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import (
    STATUSES,
    AttemptRow,
    DeliveryFilter,
    DeliveryRow,
    EndpointRow,
    EndpointState,
    EventDeliveries,
)


class RedisAdmin:
    """Needs ``call``, ``run``, ``key``, ``link`` and ``_settings`` of the store."""

    call: Any
    run: Any
    key: Any
    link: Any
    _settings: Any

    # -- endpoints and counts ------------------------------------------------------------------

    async def _members(self, name: str) -> set[str]:
        found = await self.call(lambda: self.link.client.smembers(self.key(name)))
        return {m.decode() for m in found}

    async def _cards(self, pairs: list[tuple[str, str]]) -> list[int]:
        async def run() -> list[int]:
            pipe = self.link.client.pipeline(transaction=False)
            for endpoint, status in pairs:
                pipe.zcard(self.key("st", endpoint, status))
            return [int(n) for n in await pipe.execute()]

        return await self.call(run) if pairs else []

    async def unfinished(self, endpoints: Collection[str] | None = None) -> int:
        names = await self._members("queues")
        if endpoints is not None:
            names &= set(endpoints)
        return sum(await self._cards([(ep, st) for ep in names for st in ("pending", "in_flight")]))

    async def counts(self) -> dict[str, int]:
        pairs = [(ep, st) for ep in sorted(await self._members("queues")) for st in STATUSES]
        totals: dict[str, int] = {}
        for (_, status), count in zip(pairs, await self._cards(pairs), strict=True):
            if count:
                totals[status] = totals.get(status, 0) + count
        return totals

    async def event_deliveries(self, event_ids: list[str]) -> dict[str, EventDeliveries]:
        async def run() -> list[Any]:
            pipe = self.link.client.pipeline(transaction=False)
            for event_id in event_ids:
                pipe.hgetall(self.key("ev", event_id))
            return list(await pipe.execute())

        found: dict[str, EventDeliveries] = {}
        for event_id, fields in zip(event_ids, await self.call(run) if event_ids else [], strict=True):
            if fields:  # the event hash: name, session, and '@<endpoint>' per delivery
                found[event_id] = EventDeliveries(
                    fields[b"name"].decode(), fields[b"session"].decode(),
                    {k[1:].decode() for k in fields if k.startswith(b"@")})
        return found

    async def stats(self) -> dict[str, int]:
        """Across every worker: ``reclaimed`` (claims taken over) and ``stale_outcomes``."""
        found = await self.call(lambda: self.link.client.hgetall(self.key("stats")))
        return {k.decode(): int(v) for k, v in found.items()}

    async def set_endpoint(self, endpoint: str, url: str, state: EndpointState, reason: str | None,
                           failures: int, success_at: int | None, failure_at: int | None) -> None:
        row = msgspec.json.encode([endpoint, url, state, reason, failures, success_at, failure_at])
        await self.run("set_endpoint", now_ms(), self._settings(endpoint).probe_ms, row)

    async def endpoint(self, endpoint: str) -> EndpointRow | None:
        rows = [r for r in await self.endpoints() if r.endpoint == endpoint]
        return rows[0] if rows else None

    async def endpoints(self) -> list[EndpointRow]:
        names = sorted(await self._members("endpoints"))

        async def run() -> list[Any]:
            pipe = self.link.client.pipeline(transaction=False)
            for name in names:
                pipe.hmget(self.key("ep", name), "url", "state", "reason", "failures", "success_at",
                           "failure_at")
                for status in ("pending", "in_flight", "disabled", "dead"):
                    pipe.zcard(self.key("st", name, status))
            return list(await pipe.execute())

        found = await self.call(run) if names else []
        rows = []
        for index, name in enumerate(names):
            fields, pending, in_flight, disabled, dead = found[index * 5: index * 5 + 5]
            url, state, reason, failures, success_at, failure_at = (_text(f) for f in fields)
            rows.append(EndpointRow(
                endpoint=name, url=url or "", state=state or "active", reason=reason or None,
                consecutive_failures=int(failures or 0), last_success_at=_int(success_at),
                last_failure_at=_int(failure_at), pending=pending + in_flight + disabled, dead=dead))
        return rows

    async def enable_endpoint(self, endpoint: str) -> int:
        return int(await self.run("enable", endpoint, now_ms()))

    # -- inspection and re-sending ---------------------------------------------------------------

    async def list_deliveries(self, flt: DeliveryFilter) -> list[DeliveryRow]:
        return await RedisListing(self).rows(flt)

    async def get_delivery(self, delivery_id: str) -> tuple[DeliveryRow, list[AttemptRow]] | None:
        return await RedisListing(self).one(delivery_id)

    async def retry(self, delivery_ids: list[str] | None, flt: DeliveryFilter | None) -> int:
        if delivery_ids is None:
            delivery_ids = await RedisListing(self).resendable(flt or DeliveryFilter(status="dead"))
        count = 0
        for start in range(0, len(delivery_ids), 500):
            count += int(await self.run("retry", now_ms(), *delivery_ids[start:start + 500]))
        return count

    async def prune(self, delivered_before: int) -> int:
        total = 0
        while True:
            examined, pruned = await self.run("prune", delivered_before, 500)
            total += int(pruned)
            if int(examined) < 500:
                return total


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _int(value: str | None) -> int | None:
    return None if value in (None, "") else int(float(value))
