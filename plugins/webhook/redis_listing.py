"""Listing deliveries in the Redis store (``deliveries list|show|retry``, the API).

Deliveries are indexed per endpoint and status in sorted sets scored by their insertion
sequence; a listing merges the sets it needs in that order (oldest first, like the SQLite
store, or newest first), from a keyset cursor (a sequence number: each page starts where the
last one ended, at the cost of the first), reads rows a page at a time and filters them. With
a status (and endpoint) the sets hold only what is asked for; other filters are a scan until
the page is full.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

import msgspec

from plugins.webhook.store import STATUSES, AttemptRow, DeliveryFilter, DeliveryRow

if TYPE_CHECKING:
    from plugins.webhook.redis_store import RedisDeliveryStore

PAGE = 500
_attempt_decoder = msgspec.json.Decoder(AttemptRow)


class _SortedSetCursor:
    """Members of one sorted set in score order (descending when ``newest_first``), after
    ``after`` (exclusive), fetched a page at a time."""

    def __init__(self, store: RedisDeliveryStore, key: str, after: int | None = None,
                 newest_first: bool = False) -> None:
        self.store = store
        self.key = key
        self.newest_first = newest_first
        #: The exclusive bound the next page starts from (Redis score syntax).
        self.bound = ("+inf" if newest_first else "-inf") if after is None else f"({after}"
        self.page: list[tuple[bytes, float]] = []
        self.done = False

    async def _fetch(self) -> list[tuple[bytes, float]]:
        client, key, bound = self.store.link.client, self.key, self.bound
        if self.newest_first:
            return list(await self.store.call(lambda: client.zrevrangebyscore(
                key, bound, "-inf", start=0, num=PAGE, withscores=True)))
        return list(await self.store.call(lambda: client.zrangebyscore(
            key, bound, "+inf", start=0, num=PAGE, withscores=True)))

    async def next(self) -> tuple[float, str] | None:
        if not self.page and not self.done:
            self.page = await self._fetch()
            self.done = len(self.page) < PAGE
            if self.page:
                self.bound = f"({int(self.page[-1][1])}"
        if not self.page:
            return None
        member, score = self.page.pop(0)
        return (-score if self.newest_first else score), member.decode()


class RedisListing:
    def __init__(self, store: RedisDeliveryStore) -> None:
        self.store = store

    async def _describe(self, ids: list[str]) -> list[DeliveryRow]:
        found = await self.store.run("describe", *ids)
        return [_row(r) for r in found if r]

    async def _scan(self, flt: DeliveryFilter, statuses: tuple[str, ...], limit: int) -> list[DeliveryRow]:
        endpoints = sorted(await self.store._members("queues"))
        if flt.endpoint is not None and flt.endpoint in endpoints:
            endpoints = [flt.endpoint]  # by name (by URL: every endpoint is read and filtered)
        cursors = [_SortedSetCursor(self.store, self.store.key("st", ep, st), flt.after_seq,
                                    flt.newest_first)
                   for ep in endpoints for st in statuses]
        heap: list[tuple[float, int, str]] = []
        for index, cursor in enumerate(cursors):
            item = await cursor.next()
            if item is not None:
                heapq.heappush(heap, (item[0], index, item[1]))
        rows: list[DeliveryRow] = []
        seen: set[str] = set()
        page: list[str] = []

        async def flush() -> None:
            for row in await self._describe(page):
                if row.id not in seen and _matches(row, flt):
                    seen.add(row.id)
                    rows.append(row)
            page.clear()

        while heap and len(rows) < limit:
            _, index, member = heapq.heappop(heap)
            page.append(member)
            item = await cursors[index].next()
            if item is not None:
                heapq.heappush(heap, (item[0], index, item[1]))
            if len(page) >= min(PAGE, limit - len(rows)):  # no more than the page still needs
                await flush()
        if page:
            await flush()
        return rows[:limit]

    async def rows(self, flt: DeliveryFilter) -> list[DeliveryRow]:
        statuses = (flt.status,) if flt.status else STATUSES
        return await self._scan(flt, statuses, flt.limit)

    async def resendable(self, flt: DeliveryFilter) -> list[str]:
        """Ids of dead or delivered deliveries matching ``flt`` (no limit)."""
        statuses = tuple(s for s in ("dead", "delivered") if flt.status in (None, s))
        if not statuses:
            return []
        return [row.id for row in await self._scan(flt, statuses, 1 << 62)]

    async def one(self, delivery_id: str) -> tuple[DeliveryRow, list[AttemptRow]] | None:
        rows = await self._describe([delivery_id])
        if not rows:
            return None
        store = self.store
        found = await store.call(lambda: store.link.client.hgetall(store.key("att", delivery_id)))
        attempts = sorted((_attempt_decoder.decode(v) for v in found.values()), key=lambda a: a.attempt)
        return rows[0], attempts


def _matches(row: DeliveryRow, flt: DeliveryFilter) -> bool:
    return ((flt.status is None or row.status == flt.status)
            and (flt.session is None or row.session == flt.session)
            and (flt.event is None or row.event_name == flt.event)
            and (flt.endpoint is None or flt.endpoint in (row.endpoint, row.url))
            and (flt.since is None or row.created_at >= flt.since)
            and (flt.until is None or row.created_at <= flt.until))


def _opt_int(value: bytes) -> int | None:
    return int(float(value)) if value else None


def _row(r: list[Any]) -> DeliveryRow:
    text = [v.decode() if isinstance(v, bytes) else str(v) for v in r]
    return DeliveryRow(
        id=text[0], event_id=text[1], event_name=text[2], session=text[3], endpoint=text[4],
        url=text[5], status=text[6], attempts=int(text[7]), last_status=_opt_int(r[8]),
        last_error=text[9] or None, next_attempt_at=_opt_int(r[10]), created_at=int(float(text[11])),
        updated_at=int(float(text[12])), seq=int(float(text[13])) if len(r) > 13 and r[13] else 0)
