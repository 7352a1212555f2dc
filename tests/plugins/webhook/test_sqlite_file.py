"""The SQLite file of the embedded store: the durability switch, a file written by an earlier
version opened by this one, and WAL checkpoints made off the store's own thread."""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import anyio
from webhook_process import core_command, core_env
from webhook_service import build_service

from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms
from plugins.webhook.store import NewDelivery, StoredEvent

#: The schema of hookwire 0.1.0 as it was first written (no dispatcher ids, full indexes).
OLD_SCHEMA = """
CREATE TABLE events (id TEXT PRIMARY KEY, name TEXT NOT NULL, session TEXT NOT NULL,
    timestamp INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE deliveries (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL REFERENCES events(id), endpoint TEXT NOT NULL, url TEXT NOT NULL,
    chat TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER, last_status INTEGER, last_error TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (event_id, endpoint));
CREATE INDEX deliveries_due ON deliveries (endpoint, status, next_attempt_at, seq);
CREATE INDEX deliveries_chat ON deliveries (endpoint, chat, status, seq);
CREATE INDEX deliveries_status ON deliveries (status, updated_at);
CREATE TABLE attempts (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, started_at INTEGER NOT NULL,
    duration_ms REAL NOT NULL, status INTEGER, error TEXT, response_body TEXT,
    PRIMARY KEY (delivery_id, attempt));
CREATE TABLE endpoints (endpoint TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'active',
    reason TEXT, consecutive_failures INTEGER NOT NULL DEFAULT 0, last_success_at INTEGER,
    last_failure_at INTEGER);
"""


async def synchronous_of(store: SQLiteDeliveryStore) -> int:
    return await store._run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])


async def test_normal_is_the_default_and_full_syncs_every_commit(tmp_path):
    for mode, expected in ((None, 1), ("full", 2)):
        service = build_service(tmp_path, name=f"sync-{mode}", webhooks=[
            {"url": "http://127.0.0.1:9/hook", "events": ["message"]}],
            delivery={"sqlite_synchronous": mode} if mode else None)
        store = service.sink.store
        await store.open()
        try:
            assert await synchronous_of(store) == expected  # 1 = NORMAL, 2 = FULL
            assert await store._run(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        finally:
            await store.close()


def test_a_durability_mode_that_does_not_exist_is_refused_at_start(scripted_site, tmp_path):
    config = tmp_path / "hookwire.toml"
    config.write_text('[delivery]\nsqlite_synchronous = "sometimes"\n', encoding="utf-8")
    done = subprocess.run(core_command("--config", str(config), "check-config"), env=core_env(scripted_site),
                          cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "delivery.sqlite_synchronous: invalid enum value 'sometimes'" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_file_of_the_first_schema_is_migrated_and_its_claims_resumed(tmp_path):
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO events VALUES ('evt_1', 'message', 's', 1, x'7b7d')")
        conn.execute("INSERT INTO events VALUES ('evt_2', 'message', 's', 2, x'7b7d')")
        conn.execute("INSERT INTO deliveries (id, event_id, endpoint, url, status, next_attempt_at, created_at,"
                     " updated_at) VALUES ('dlv_1', 'evt_1', 'ep', 'http://127.0.0.1:9/', 'in_flight', 0, 0, 0)")
        conn.execute("INSERT INTO deliveries (id, event_id, endpoint, url, status, next_attempt_at, created_at,"
                     " updated_at) VALUES ('dlv_2', 'evt_2', 'ep', 'http://127.0.0.1:9/', 'pending', 0, 0, 0)")
        conn.commit()
    store = SQLiteDeliveryStore(path)
    await store.open()
    try:
        # The claim of the process that wrote the file (gone) is taken back.
        assert await store.recover() == 1
        assert [d.id for d in await store.claim_due("ep", now_ms(), 10, False)] == ["dlv_1", "dlv_2"]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                                  " AND name NOT LIKE 'sqlite_%'")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(deliveries)")}
    assert indexes == {"deliveries_pending_due", "deliveries_open_chat", "deliveries_in_flight_owner",
                       "deliveries_status", "deliveries_listing"}
    assert "claimed_by" in columns


async def test_wal_checkpoints_are_made_off_the_store_thread_while_it_writes(tmp_path):
    """The store's own connection checkpoints only as a backstop (a WAL of ~16 MB); the
    checkpointer thread keeps the WAL shorter: 16 MB written, the WAL stays a few MB."""
    path = tmp_path / "ckpt.sqlite3"
    store = SQLiteDeliveryStore(path)
    await store.open()
    body = b"x" * 4000
    checkpointer = store._checkpointer
    try:
        assert await store._run(lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 4096
        for batch in range(8):
            checkpointer.checkpointed.clear()
            events = [StoredEvent(f"evt_{batch}_{n}", "message", "s", n, body) for n in range(500)]
            await store.add(events, [NewDelivery(f"dlv_{e.id}", e.id, "ep", "http://127.0.0.1:9/", "c", 0)
                                     for e in events])  # ~2 MB
            assert await anyio.to_thread.run_sync(checkpointer.checkpointed.wait, 10)
        assert checkpointer.checkpoints >= 8
        # The WAL was started over after checkpoints: it never held the 16 MB written, nor
        # grew to the backstop.
        assert Path(str(path) + "-wal").stat().st_size < 8 * 2**20
    finally:
        await store.close()


HOLD_GATE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


async def test_no_checkpoint_and_no_store_operation_runs_while_another_process_holds_the_gate(tmp_path):
    """SQLite's WAL-reset bug (releases before 3.51.3) corrupts a file when a checkpoint runs
    beside a commit of another connection: every store operation and every checkpoint holds
    the file's gate, across processes. A process holding it stops both until it lets go."""
    import sys

    path = tmp_path / "gate.sqlite3"
    store = SQLiteDeliveryStore(path)
    await store.open()
    checkpointer = store._checkpointer
    try:
        events = [StoredEvent(f"evt_{n}", "message", "s", n, b"x" * 1000) for n in range(50)]
        await store.add(events, [NewDelivery(f"dlv_{e.id}", e.id, "ep", "http://127.0.0.1:9/", "c", 0)
                                 for e in events])
        assert await anyio.to_thread.run_sync(checkpointer.checkpointed.wait, 10)
        holder = await anyio.open_process([sys.executable, "-c", HOLD_GATE, str(path) + ".gate"])
        try:
            assert holder.stdout is not None and holder.stdin is not None
            assert (await holder.stdout.receive()).strip() == b"held"
            checkpointer.checkpointed.clear()
            done = anyio.Event()
            counts: dict[str, int] = {}

            async def count() -> None:
                counts.update(await store.counts())
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(count)
                checkpointer.wrote()
                with anyio.move_on_after(0.5):
                    await done.wait()
                assert not done.is_set(), "a store operation ran while another process held the gate"
                assert not checkpointer.checkpointed.is_set(), "a checkpoint ran while the gate was held"
                await holder.stdin.aclose()  # the holder exits: the gate is free
                with anyio.fail_after(10):
                    await done.wait()
            assert counts == {"pending": 50}
            assert await anyio.to_thread.run_sync(checkpointer.checkpointed.wait, 10)
        finally:
            if holder.returncode is None:
                holder.kill()
            await holder.wait()
    finally:
        await store.close()
