"""The attempt recorder on a real SQLite store: outcomes queued when a stop cancels it in the
middle of a flush are all written by its last flush (none is left claimed)."""

from __future__ import annotations

import sqlite3

import anyio
import anyio.lowlevel

from plugins.webhook.recorder import AttemptRecorder
from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms
from plugins.webhook.store import AttemptRecord, NewDelivery, StoredEvent


async def test_a_stop_in_the_middle_of_a_flush_loses_no_outcome(tmp_path):
    path = tmp_path / "deliveries.sqlite3"
    store = SQLiteDeliveryStore(path)
    await store.open()
    try:
        events = [StoredEvent(f"evt_{n}", "message", "s", n, b"{}") for n in range(3)]
        await store.add(events, [NewDelivery(f"dlv_{n}", f"evt_{n}", "ep", "http://127.0.0.1:9/", "c", 0)
                                 for n in range(3)])
        claimed = await store.claim_due("ep", now_ms(), 10, False)
        recorder = AttemptRecorder(store, max_batch=1, linger=0)  # one commit per outcome
        for delivery in claimed:
            recorder.add(AttemptRecord(delivery.id, 1, now_ms(), 1.0, 200, None, "ok", "delivered", None))
        # Another process holds the write lock: the first commit waits for it.
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        async with anyio.create_task_group() as tg:
            tg.start_soon(recorder.run)
            with anyio.fail_after(5):
                while recorder.unstored == 3:  # until its first commit is under way (and waits)
                    await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()  # the stop; the commit it waits for goes on meanwhile
            other.execute("ROLLBACK")
        other.close()
        assert await store.counts() == {"delivered": 3}
        assert recorder.unstored == 0
    finally:
        await store.close()
