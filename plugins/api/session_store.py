"""Sessions created over the API, kept in a small SQLite file so that they survive restarts.

One row per session: its name, engine, config (the request's ``config``, JSON, with secrets in
clear: the file is as sensitive as the config file), WAHA's ``apps`` (kept, not run) and whether
it should be running. At start-up the API plugin re-creates each one with its webhooks.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import msgspec

from plugins.api.session_models import SessionConfigBody

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_sessions (
    name TEXT PRIMARY KEY,
    engine TEXT NOT NULL,
    config BLOB NOT NULL,
    desired TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"""
#: Columns added since the first version of the file (added to older files when opened).
ADDED_COLUMNS = {"apps": "ALTER TABLE api_sessions ADD COLUMN apps BLOB"}

Desired = Literal["running", "stopped"]


class ApiSession(msgspec.Struct, kw_only=True):
    name: str
    engine: str
    config: SessionConfigBody
    desired: Desired
    created_at: int
    updated_at: int
    apps: list[dict[str, Any]] | None = None


_config_decoder = msgspec.json.Decoder(SessionConfigBody)
_apps_decoder = msgspec.json.Decoder(list[dict[str, Any]] | None)


class ApiSessionStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(api_sessions)")}
        for column, statement in ADDED_COLUMNS.items():
            if column not in columns:
                conn.execute(statement)
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._conn is not None, "the session store is not open"
            return fn(self._conn)

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    async def all(self) -> list[ApiSession]:
        def query(conn: sqlite3.Connection) -> list[ApiSession]:
            return [ApiSession(name=row[0], engine=row[1], config=_config_decoder.decode(row[2]),
                               desired=row[3], created_at=row[4], updated_at=row[5],
                               apps=_apps_decoder.decode(row[6]) if row[6] else None)
                    for row in conn.execute("SELECT name, engine, config, desired, created_at,"
                                            " updated_at, apps FROM api_sessions"
                                            " ORDER BY created_at, name")]

        return await self._run(query)

    async def put(self, session: ApiSession) -> None:
        body = msgspec.json.encode(session.config)
        apps = None if session.apps is None else msgspec.json.encode(session.apps)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_sessions (name, engine, config, desired, created_at, updated_at, apps)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET engine = excluded.engine,"
                " config = excluded.config, desired = excluded.desired,"
                " updated_at = excluded.updated_at, apps = excluded.apps",
                (session.name, session.engine, body, session.desired, session.created_at,
                 session.updated_at, apps))

        await self._run(write)

    async def delete(self, name: str) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM api_sessions WHERE name = ?", (name,)))


def now_ms() -> int:
    return time.time_ns() // 1_000_000
