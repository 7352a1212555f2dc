"""The embedded delivery store: one SQLite file in WAL mode.

All statements run on one connection in a worker thread, one at a time (a capacity limiter of
1), so the event loop never blocks on disk. Writes are batched by the callers: a burst of
events costs a few commits. Other processes (the ``deliveries`` CLI) open the same file; WAL
lets them read while the service writes, and ``busy_timeout`` covers their short writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from plugins.webhook.store import (
    AttemptRecord,
    AttemptRow,
    ClaimedDelivery,
    DeliveryFilter,
    DeliveryRow,
    EndpointRow,
    EndpointState,
    EventDeliveries,
    NewDelivery,
    StoredEvent,
)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    session TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL REFERENCES events(id),
    endpoint TEXT NOT NULL,
    url TEXT NOT NULL,
    chat TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (event_id, endpoint)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (endpoint, status, next_attempt_at, seq);
CREATE INDEX IF NOT EXISTS deliveries_chat ON deliveries (endpoint, chat, status, seq);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, updated_at);
CREATE INDEX IF NOT EXISTS deliveries_listing ON deliveries (status, seq);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    status INTEGER,
    error TEXT,
    response_body TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE TABLE IF NOT EXISTS endpoints (
    endpoint TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active',
    reason TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER,
    last_failure_at INTEGER
);
"""

_DELIVERY_COLUMNS = """d.id, d.event_id, e.name, e.session, d.endpoint, d.url, d.status, d.attempts,
    d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at, d.seq"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SQLiteDeliveryStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)

    # -- plumbing ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.executescript(SCHEMA)
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._conn is not None, "store is not open"
            return fn(self._conn)

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def in_tx(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(in_tx)

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    # -- the dispatch path ---------------------------------------------------------------------

    async def add(self, events: list[StoredEvent], deliveries: list[NewDelivery]) -> None:
        stamp = now_ms()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO events (id, name, session, timestamp, body) VALUES (?, ?, ?, ?, ?)",
                [(e.id, e.name, e.session, e.timestamp, e.body) for e in events],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO deliveries (id, event_id, endpoint, url, chat, status,"
                " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(d.id, d.event_id, d.endpoint, d.url, d.chat, d.status, d.next_attempt_at, stamp, stamp)
                 for d in deliveries],
            )

        await self._tx(write)

    async def recover(self) -> int:
        def reset(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE deliveries SET status = 'pending', updated_at = ? WHERE status = 'in_flight'",
                (now_ms(),),
            ).rowcount

        return await self._tx(reset)

    async def claim_due(self, endpoint: str, now: int, limit: int, per_chat: bool) -> list[ClaimedDelivery]:
        chat_rule = (
            " AND d.seq = (SELECT MIN(x.seq) FROM deliveries x WHERE x.endpoint = d.endpoint"
            " AND x.chat = d.chat AND x.status IN ('pending', 'in_flight'))"
            if per_chat else ""
        )
        query = (
            "SELECT d.id, d.event_id, e.name, e.session, e.timestamp, d.endpoint, d.url, d.attempts,"
            " d.tries, e.body FROM deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.endpoint = ? AND d.status = 'pending' AND d.next_attempt_at <= ?"
            f"{chat_rule} ORDER BY d.next_attempt_at, d.seq LIMIT ?"
        )

        def claim(conn: sqlite3.Connection) -> list[ClaimedDelivery]:
            rows = conn.execute(query, (endpoint, now, limit)).fetchall()
            if rows:
                conn.executemany(
                    "UPDATE deliveries SET status = 'in_flight', updated_at = ? WHERE id = ?",
                    [(now, row[0]) for row in rows],
                )
            return [ClaimedDelivery(*row) for row in rows]

        return await self._tx(claim)

    async def release(self, delivery_ids: list[str]) -> None:
        if not delivery_ids:
            return

        def give_back(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET status = 'pending' WHERE id = ? AND status = 'in_flight'",
                [(i,) for i in delivery_ids],
            )

        await self._tx(give_back)

    async def record(self, attempts: list[AttemptRecord]) -> None:
        if not attempts:
            return
        stamp = now_ms()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_ms,"
                " status, error, response_body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error,
                  a.response_body) for a in attempts],
            )
            conn.executemany(
                "UPDATE deliveries SET status = ?, attempts = MAX(attempts, ?), tries = tries + 1,"
                " next_attempt_at = ?, last_status = ?, last_error = ?, updated_at = ? WHERE id = ?",
                [(a.outcome, a.attempt, a.next_attempt_at, a.status_code, a.error, stamp, a.delivery_id)
                 for a in attempts],
            )

        await self._tx(write)

    async def next_due_at(self, endpoint: str) -> int | None:
        def query(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint = ? AND status = 'pending'",
                (endpoint,),
            ).fetchone()
            return row[0]

        return await self._run(query)

    async def unfinished(self, endpoints: Collection[str] | None = None) -> int:
        only = "" if endpoints is None else f" AND endpoint IN ({', '.join('?' * len(endpoints))})"

        def query(conn: sqlite3.Connection) -> int:
            return conn.execute(
                f"SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight'){only}",
                list(endpoints or ()),
            ).fetchone()[0]

        return await self._run(query)

    # -- endpoints -----------------------------------------------------------------------------

    async def set_endpoint(self, endpoint: str, url: str, state: EndpointState, reason: str | None,
                           failures: int, success_at: int | None, failure_at: int | None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO endpoints (endpoint, url, state, reason, consecutive_failures,"
                " last_success_at, last_failure_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (endpoint) DO UPDATE SET url = excluded.url, state = excluded.state,"
                " reason = excluded.reason, consecutive_failures = excluded.consecutive_failures,"
                " last_success_at = COALESCE(excluded.last_success_at, last_success_at),"
                " last_failure_at = COALESCE(excluded.last_failure_at, last_failure_at)",
                (endpoint, url, state, reason, failures, success_at, failure_at),
            )
            if state == "disabled":
                conn.execute(
                    "UPDATE deliveries SET status = 'disabled', updated_at = ? WHERE endpoint = ?"
                    " AND status = 'pending'", (now_ms(), endpoint))

        await self._tx(write)

    async def endpoint(self, endpoint: str) -> EndpointRow | None:
        rows = [r for r in await self.endpoints() if r.endpoint == endpoint]
        return rows[0] if rows else None

    async def endpoints(self) -> list[EndpointRow]:
        def query(conn: sqlite3.Connection) -> list[EndpointRow]:
            counts: dict[tuple[str, str], int] = {
                (row[0], row[1]): row[2] for row in conn.execute(
                    "SELECT endpoint, status, COUNT(*) FROM deliveries GROUP BY endpoint, status")
            }
            rows = conn.execute(
                "SELECT endpoint, url, state, reason, consecutive_failures, last_success_at,"
                " last_failure_at FROM endpoints ORDER BY endpoint").fetchall()
            return [
                EndpointRow(endpoint=row[0], url=row[1], state=row[2], reason=row[3],
                            consecutive_failures=row[4], last_success_at=row[5], last_failure_at=row[6],
                            pending=sum(counts.get((row[0], s), 0) for s in ("pending", "in_flight", "disabled")),
                            dead=counts.get((row[0], "dead"), 0))
                for row in rows
            ]

        return await self._run(query)

    async def enable_endpoint(self, endpoint: str) -> int:
        stamp = now_ms()

        def write(conn: sqlite3.Connection) -> int:
            found = conn.execute(
                "UPDATE endpoints SET state = 'active', reason = NULL, consecutive_failures = 0"
                " WHERE endpoint = ? OR url = ?", (endpoint, endpoint)).rowcount
            if not found:
                return -1
            return conn.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, tries = 0, updated_at = ?"
                " WHERE status = 'disabled' AND endpoint IN"
                " (SELECT endpoint FROM endpoints WHERE endpoint = ? OR url = ?)",
                (stamp, stamp, endpoint, endpoint)).rowcount

        return await self._tx(write)

    # -- inspection and re-sending ---------------------------------------------------------------

    @staticmethod
    def _where(flt: DeliveryFilter) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for column, value in (("d.status", flt.status), ("e.session", flt.session),
                              ("e.name", flt.event)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if flt.endpoint is not None:
            clauses.append("(d.endpoint = ? OR d.url = ?)")
            params += [flt.endpoint, flt.endpoint]
        if flt.since is not None:
            clauses.append("d.created_at >= ?")
            params.append(flt.since)
        if flt.until is not None:
            clauses.append("d.created_at <= ?")
            params.append(flt.until)
        if flt.after_seq is not None:
            clauses.append("d.seq < ?" if flt.newest_first else "d.seq > ?")
            params.append(flt.after_seq)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    @classmethod
    def listing_query(cls, flt: DeliveryFilter) -> tuple[str, list[Any]]:
        """The listing's SQL and parameters: keyset paging on ``seq`` (an index search from the
        cursor, whatever page it is)."""
        where, params = cls._where(flt)
        order = "DESC" if flt.newest_first else "ASC"
        return (f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                f"{where} ORDER BY d.seq {order} LIMIT ?", [*params, flt.limit])

    async def list_deliveries(self, flt: DeliveryFilter) -> list[DeliveryRow]:
        query, params = self.listing_query(flt)

        def run(conn: sqlite3.Connection) -> list[DeliveryRow]:
            return [_delivery_row(r) for r in conn.execute(query, params)]

        return await self._run(run)

    async def get_delivery(self, delivery_id: str) -> tuple[DeliveryRow, list[AttemptRow]] | None:
        def run(conn: sqlite3.Connection) -> tuple[DeliveryRow, list[AttemptRow]] | None:
            row = conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.id = ?", (delivery_id,)).fetchone()
            if row is None:
                return None
            attempts = [AttemptRow(attempt=a[0], started_at=a[1], duration_ms=a[2], status=a[3],
                                   error=a[4], response_body=a[5])
                        for a in conn.execute(
                            "SELECT attempt, started_at, duration_ms, status, error, response_body"
                            " FROM attempts WHERE delivery_id = ? ORDER BY attempt", (delivery_id,))]
            return _delivery_row(row), attempts

        return await self._run(run)

    async def retry(self, delivery_ids: list[str] | None, flt: DeliveryFilter | None) -> int:
        stamp = now_ms()

        def run(conn: sqlite3.Connection) -> int:
            if delivery_ids is not None:
                return sum(conn.execute(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, tries = 0,"
                    " updated_at = ? WHERE id = ? AND status IN ('dead', 'delivered')",
                    (stamp, stamp, i)).rowcount for i in delivery_ids)
            where, params = self._where(flt or DeliveryFilter(status="dead"))
            return conn.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, tries = 0,"
                " updated_at = ? WHERE status IN ('dead', 'delivered') AND id IN"
                f" (SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id{where})",
                [stamp, stamp, *params]).rowcount

        return await self._tx(run)

    async def prune(self, delivered_before: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            gone = conn.execute(
                "DELETE FROM deliveries WHERE status = 'delivered' AND updated_at < ?",
                (delivered_before,)).rowcount
            conn.execute("DELETE FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)")
            conn.execute("DELETE FROM events WHERE id NOT IN (SELECT event_id FROM deliveries)")
            return gone

        return await self._tx(run)

    async def event_deliveries(self, event_ids: list[str]) -> dict[str, EventDeliveries]:
        def run(conn: sqlite3.Connection) -> dict[str, EventDeliveries]:
            found: dict[str, EventDeliveries] = {}
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start:start + 500]
                for event_id, name, session, endpoint in conn.execute(
                        "SELECT e.id, e.name, e.session, d.endpoint FROM events e LEFT JOIN deliveries d"
                        f" ON d.event_id = e.id WHERE e.id IN ({','.join('?' * len(chunk))})", chunk):
                    entry = found.setdefault(event_id, EventDeliveries(name, session, set()))
                    if endpoint is not None:
                        entry.endpoints.add(endpoint)
            return found

        return await self._run(run)

    async def counts(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return dict(conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())

        return await self._run(run)


def _delivery_row(row: Any) -> DeliveryRow:
    return DeliveryRow(id=row[0], event_id=row[1], event_name=row[2], session=row[3], endpoint=row[4],
                       url=row[5], status=row[6], attempts=row[7], last_status=row[8],
                       last_error=row[9], next_attempt_at=row[10], created_at=row[11],
                       updated_at=row[12], seq=row[13])
