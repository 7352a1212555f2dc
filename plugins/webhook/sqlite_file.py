"""The SQLite file of the embedded store: schema, migrations, connection settings, and the
WAL checkpoints, which run on a connection of their own in a thread of their own.

Durability (``[delivery] sqlite_synchronous``): the file is in WAL mode. ``normal`` (the
default) syncs the WAL at checkpoints only: every committed transaction survives a crash or
``kill -9`` of the process; a power cut or an OS crash can lose the last commits. ``full``
syncs the WAL at every commit: commits also survive a power cut, at a cost per commit.

Checkpoints (copying the WAL back into the database, with an fsync) are what a commit pays
for now and then with SQLite's default auto-checkpoint (every 1,000 pages): here a
:class:`WalCheckpointer` thread makes passive checkpoints after writes, so the store's thread,
and the event loop waiting for it, mostly does not wait for the disk; the store's connection
checkpoints itself only when the WAL has grown past a backstop (writes without a pause).

Every use of the store's connection and every checkpoint goes through a :class:`WriteGate`
(an exclusive ``flock`` on ``<store>.gate``), so no checkpoint ever runs beside a write, in
this process or in another one dispatching from the same file. That keeps the file safe from
SQLite's WAL-reset bug (every release from 3.7.0 to 3.51.2; fixed in 3.51.3, 3.50.7 and
3.44.6; Debian 12 and most Pythons ship an affected one): a checkpoint that starts while
another connection commits and resets the WAL can skip frames and corrupt the file. It was
seen here: two dispatch processes on one file, a malformed file within a minute.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from typing import Literal

Synchronous = Literal["normal", "full"]

TABLES = """
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
    claimed_by TEXT,
    UNIQUE (event_id, endpoint)
);
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

#: ``deliveries_listing`` pages the API's and the CLI's listings by status, newest first.
#: Partial indexes hold the unfinished rows only: a delivered row leaves them, so the claim
#: query's index stays as small as the backlog, however many delivered rows are kept.
INDEXES = """
CREATE INDEX IF NOT EXISTS deliveries_pending_due ON deliveries (endpoint, next_attempt_at, seq)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_open_chat ON deliveries (endpoint, chat, seq)
    WHERE status IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS deliveries_in_flight_owner ON deliveries (claimed_by)
    WHERE status = 'in_flight';
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, updated_at);
CREATE INDEX IF NOT EXISTS deliveries_listing ON deliveries (status, seq);
"""

#: Indexes of earlier versions, replaced by the partial ones above.
OLD_INDEXES = ("deliveries_due", "deliveries_chat")

#: The store's own connection checkpoints only past this many WAL pages (~16 MB): under
#: writes without a pause the checkpointer never catches up with the WAL's end, and this
#: bounds the WAL (a commit then pays for the rest of a checkpoint mostly done already).
BACKSTOP_CHECKPOINT_PAGES = 4096


def connect(path: Path, synchronous: Synchronous = "normal") -> sqlite3.Connection:
    """The store's connection: WAL, the durability asked for, the schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.executescript(TABLES)
    conn.execute("BEGIN IMMEDIATE")  # two processes opening an old file: one migrates it
    try:
        migrate(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    conn.executescript(INDEXES)
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a file written by an earlier version up to date (idempotent)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(deliveries)")}
    if "claimed_by" not in columns:
        conn.execute("ALTER TABLE deliveries ADD COLUMN claimed_by TEXT")
    for name in OLD_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


class WriteGate:
    """An exclusive ``flock`` on ``<store>.gate``, held around every use of a store connection
    and every checkpoint (module doc). Each holder needs a gate of its own: ``flock`` locks
    belong to an open file, so two threads sharing one gate would not exclude each other."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".gate")
        self._fd: int | None = None

    def __enter__(self) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class WalCheckpointer:
    """Passive WAL checkpoints in a thread of its own, on a connection of its own, at most
    every ``interval`` seconds while there are writes (:meth:`wrote` says so). A passive
    checkpoint never blocks the store's writes; what it cannot copy yet is copied next time."""

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        #: Checkpoints made; ``checkpointed`` is set after each (tests wait on it).
        self.checkpoints = 0
        self.checkpointed = threading.Event()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hookwire-wal-checkpoint", daemon=True)
            self._thread.start()
        self._wrote.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        gate = WriteGate(self.path)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while True:
                self._wrote.wait()
                if self._stopping.is_set():
                    return
                self._wrote.clear()
                try:
                    with gate:  # never beside a write (module doc)
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    pass  # busy or the file went away: the store's backstop still checkpoints
                else:
                    self.checkpoints += 1
                    self.checkpointed.set()
                if self._stopping.wait(self.interval):
                    return
        finally:
            conn.close()
            gate.close()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wrote.set()
            thread.join()
