"""The embedded delivery store: one SQLite file in WAL mode.

All statements run on one connection in a worker thread, one at a time (a capacity limiter of
1), so the event loop never blocks on disk. Writes are batched by the callers: a burst of
events costs a few commits. Other processes (the ``deliveries`` CLI) open the same file; WAL
lets them read while the service writes, and ``busy_timeout`` covers their short writes.
Schema, durability and checkpoints: ``sqlite_file.py``.

Several dispatching processes may share one file (``sqlite_dispatchers.py``): each claim
carries its dispatcher's id, and only the claims of dispatchers that are gone are taken back.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from plugins.webhook.sqlite_dispatchers import DispatcherRegistry
from plugins.webhook.sqlite_file import Synchronous, WalCheckpointer, WriteGate, connect
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

_DELIVERY_COLUMNS = """d.id, d.event_id, e.name, e.session, d.endpoint, d.url, d.status, d.attempts,
    d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at, d.seq"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


#: Rows pruned per transaction: a long prune never holds the file's write lock for long.
PRUNE_CHUNK = 2000


class SQLiteDeliveryStore:
    #: :meth:`add` claims deliveries written ``in_flight`` for this dispatcher.
    claims_on_add = True

    def __init__(self, path: Path, synchronous: Synchronous = "normal") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self._checkpointer = WalCheckpointer(self.path)
        #: Held around every use of the connection: no checkpoint runs beside it (sqlite_file.py).
        self._gate = WriteGate(self.path)
        #: The dispatching processes of this file; this one registers at its first claim.
        self.dispatchers = DispatcherRegistry(self.path)

    # -- plumbing ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with self._gate:
            return connect(self.path, self.synchronous)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._conn is not None, "store is not open"
            with self._gate:
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
            self._checkpointer.wrote()
            return result

        return await self._run(in_tx)

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            def close_all() -> None:
                self._checkpointer.close()
                with self._gate:
                    conn.close()  # the last connection to a file checkpoints it
                self._gate.close()
                self.dispatchers.close()

            await anyio.to_thread.run_sync(close_all, limiter=self._limiter)

    # -- the dispatch path ---------------------------------------------------------------------

    async def add(self, events: list[StoredEvent], deliveries: list[NewDelivery]) -> set[str]:
        """Deliveries written ``in_flight`` are claimed by this dispatcher as they are written
        (handed straight to a worker, no claim transaction); returns the ids of those that
        were new (one already in the store, e.g. a replayed event, is not claimed again)."""
        stamp = now_ms()
        event_rows = [(e.id, e.name, e.session, e.timestamp, e.body) for e in events]
        owner = None
        if any(d.status == "in_flight" for d in deliveries):
            owner = self.dispatchers.id or await anyio.to_thread.run_sync(self.dispatchers.register)
        delivery_rows = [(d.id, d.event_id, d.endpoint, d.url, d.chat, d.status, d.next_attempt_at, stamp, stamp,
                          owner if d.status == "in_flight" else None) for d in deliveries]
        head = ("INSERT OR IGNORE INTO deliveries (id, event_id, endpoint, url, chat, status,"
                " next_attempt_at, created_at, updated_at, claimed_by)")

        def write(conn: sqlite3.Connection) -> set[str]:
            insert_rows(conn, "INSERT OR IGNORE INTO events (id, name, session, timestamp, body)", event_rows)
            if owner is None:
                insert_rows(conn, head, delivery_rows)
                return set()
            insert_rows(conn, head, [row for row in delivery_rows if row[9] is None])
            return set(insert_rows(conn, head, [row for row in delivery_rows if row[9] is not None],
                                   returning="id"))

        return await self._tx(write)

    async def recover(self) -> int:
        """Register this process as a dispatcher and take back the claims of those that are
        gone (stopped, crashed, killed); a live one's claims are left alone. Returns how many."""
        return await self._take_back_orphans(register=True)

    async def reclaim(self) -> int:
        """While running: take back the claims of dispatchers that have gone since (another
        process sharing the file was stopped or killed). Returns how many."""
        return await self._take_back_orphans(register=False)

    async def _take_back_orphans(self, *, register: bool) -> int:
        if register:
            await anyio.to_thread.run_sync(self.dispatchers.register)

        def owners(conn: sqlite3.Connection) -> list[str | None]:
            return [row[0] for row in conn.execute(
                "SELECT DISTINCT claimed_by FROM deliveries WHERE status = 'in_flight'")]

        gone = [o for o in await self._run(owners) if not self.dispatchers.alive(o)]
        if not gone:
            return 0
        ids = [o for o in gone if o is not None]

        def reset(conn: sqlite3.Connection) -> int:
            orphaned = "claimed_by IS NULL" if None in gone else "0"
            if ids:
                orphaned += f" OR claimed_by IN ({', '.join('?' * len(ids))})"
            return conn.execute(
                "UPDATE deliveries SET status = 'pending', claimed_by = NULL, updated_at = ?"
                f" WHERE status = 'in_flight' AND ({orphaned})", (now_ms(), *ids)).rowcount

        return await self._tx(reset)

    async def live_dispatchers(self) -> list[str]:
        """Ids of the live dispatching processes of this file, sorted (this one included)."""
        return await anyio.to_thread.run_sync(self.dispatchers.live)

    async def claim_due(self, endpoint: str, now: int, limit: int, per_chat: bool) -> list[ClaimedDelivery]:
        owner = self.dispatchers.id or await anyio.to_thread.run_sync(self.dispatchers.register)
        chat_rule = (
            " AND d.seq = (SELECT MIN(x.seq) FROM deliveries x WHERE x.endpoint = d.endpoint"
            " AND x.chat = d.chat AND x.status IN ('pending', 'in_flight'))"
            if per_chat else ""
        )
        query = (
            "SELECT d.seq, d.id, d.event_id, e.name, e.session, e.timestamp, d.endpoint, d.url,"
            " d.attempts, d.tries, e.body FROM deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.endpoint = ? AND d.status = 'pending' AND d.next_attempt_at <= ?"
            f"{chat_rule} ORDER BY d.next_attempt_at, d.seq LIMIT ?"
        )

        def claim(conn: sqlite3.Connection) -> list[ClaimedDelivery]:
            rows = conn.execute(query, (endpoint, now, limit)).fetchall()
            if rows:
                conn.execute(
                    "UPDATE deliveries SET status = 'in_flight', claimed_by = ?, updated_at = ?"
                    f" WHERE seq IN ({', '.join('?' * len(rows))})",
                    (owner, now, *(row[0] for row in rows)))
            return [ClaimedDelivery(*row[1:]) for row in rows]

        return await self._tx(claim)

    async def release(self, delivery_ids: list[str]) -> None:
        if not delivery_ids:
            return

        def give_back(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET status = 'pending', claimed_by = NULL WHERE id = ?"
                " AND status = 'in_flight'",
                [(i,) for i in delivery_ids],
            )

        await self._tx(give_back)

    async def record(self, attempts: list[AttemptRecord]) -> None:
        if not attempts:
            return
        stamp = now_ms()
        attempt_rows = [(a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error,
                         a.response_body) for a in attempts]
        # One outcome per delivery and statement (a later one of the same delivery wins).
        outcomes = list({a.delivery_id: (a.delivery_id, a.outcome, a.attempt, a.next_attempt_at,
                                         a.status_code, a.error) for a in attempts}.values())

        def write(conn: sqlite3.Connection) -> None:
            insert_rows(conn, "INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_ms,"
                        " status, error, response_body)", attempt_rows)
            update_rows(conn, "UPDATE deliveries SET status = v.column2, attempts = MAX(attempts, v.column3),"
                        " tries = tries + 1, next_attempt_at = v.column4, last_status = v.column5,"
                        " last_error = v.column6, updated_at = ?, claimed_by = NULL", (stamp,),
                        "deliveries.id = v.column1", outcomes)

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
        only = _endpoints_clause(endpoints)

        def query(conn: sqlite3.Connection) -> int:
            return conn.execute(
                f"SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight'){only}",
                list(endpoints or ()),
            ).fetchone()[0]

        return await self._run(query)

    async def any_unfinished(self, endpoints: Collection[str] | None = None) -> bool:
        """Whether :meth:`unfinished` would be above 0, without counting a backlog."""
        only = _endpoints_clause(endpoints)

        def query(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM deliveries WHERE status IN ('pending', 'in_flight'){only})",
                list(endpoints or ()),
            ).fetchone()[0] == 1

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
        """Delete delivered rows older than ``delivered_before`` with their attempts and
        events, :data:`PRUNE_CHUNK` deliveries per transaction."""
        def chunk(conn: sqlite3.Connection) -> int:
            gone = conn.execute(
                "DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE status = 'delivered'"
                " AND updated_at < ? LIMIT ?) RETURNING id, event_id", (delivered_before, PRUNE_CHUNK)).fetchall()
            conn.executemany("DELETE FROM attempts WHERE delivery_id = ?", [(row[0],) for row in gone])
            conn.executemany(
                "DELETE FROM events WHERE id = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = ?)",
                [(row[1], row[1]) for row in {row[1]: row for row in gone}.values()])
            return len(gone)

        total = 0
        while (pruned := await self._tx(chunk)):
            total += pruned
            if pruned < PRUNE_CHUNK:
                break
        return total

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


def insert_rows(conn: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]],
                returning: str | None = None) -> list[Any]:
    """``head VALUES (…), (…) …``: many rows per statement, so a batch costs a few steps of
    SQLite (each one a release and a re-take of the GIL) rather than one per row. With
    ``returning``, that column of the rows actually inserted."""
    found: list[Any] = []
    tail = f" RETURNING {returning}" if returning else ""
    for chunk, values in _chunks(rows):
        cursor = conn.execute(f"{head} VALUES {values}{tail}", [value for row in chunk for value in row])
        if returning:
            found.extend(row[0] for row in cursor)
    return found


def update_rows(conn: sqlite3.Connection, head: str, head_params: tuple[Any, ...], match: str,
                rows: list[tuple[Any, ...]]) -> None:
    """``head FROM (VALUES …) AS v WHERE match``: one UPDATE for many rows, each with values
    of its own (``v.column1`` …)."""
    for chunk, values in _chunks(rows):
        conn.execute(f"{head} FROM (VALUES {values}) AS v WHERE {match}",
                     [*head_params, *(value for row in chunk for value in row)])


#: Rows per multi-row statement (well under SQLite's 32,766 parameters).
ROWS_PER_STATEMENT = 256


def _chunks(rows: list[tuple[Any, ...]]) -> Iterator[tuple[list[tuple[Any, ...]], str]]:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start:start + ROWS_PER_STATEMENT]
        row = "(" + ", ".join("?" * len(chunk[0])) + ")"
        yield chunk, ", ".join([row] * len(chunk))


def _delivery_row(row: Any) -> DeliveryRow:
    return DeliveryRow(id=row[0], event_id=row[1], event_name=row[2], session=row[3], endpoint=row[4],
                       url=row[5], status=row[6], attempts=row[7], last_status=row[8],
                       last_error=row[9], next_attempt_at=row[10], created_at=row[11],
                       updated_at=row[12], seq=row[13])


def _endpoints_clause(endpoints: Collection[str] | None) -> str:
    """`` AND endpoint IN (?, …)`` for the given endpoints; nothing for all of them."""
    return "" if endpoints is None else f" AND endpoint IN ({', '.join('?' * len(endpoints))})"
