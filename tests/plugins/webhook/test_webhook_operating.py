"""Operating the plugin: credentials never shown, retention pruning, restarts after the
config changed, the store's own guarantees (a real SQLite file)."""

from __future__ import annotations

import base64
import json

from webhook_process import run_core
from webhook_receiver import Receiver, fail
from webhook_service import build_service, message, store_file, store_statuses, watch_logs

from plugins.webhook.sqlite_store import SQLiteDeliveryStore
from plugins.webhook.store import AttemptRecord, DeliveryFilter, NewDelivery, StoredEvent

PASSWORD = "pa55-w0rd-not-to-show"


async def test_credentials_in_a_url_are_sent_but_never_shown(tmp_path, scripted_site):
    async with Receiver() as rx:
        url = rx.url("/private").replace("://", f"://hook-user:{PASSWORD}@")
        rx.respond("/private", fail(500), fail(410))
        service = build_service(tmp_path, sessions={"default": [message("1@c.us", 1)]},
                                webhooks=[{"url": url, "events": ["message"],
                                           "retries": {"schedule": [0.01, 0.01]},
                                           "circuit_breaker": {"failures": 1, "probe_seconds": 0.01}}])
        with watch_logs() as logs:
            await service.run_to_end()
    assert [r.answered for r in rx.requests] == [500, 410]
    expected = "Basic " + base64.b64encode(f"hook-user:{PASSWORD}".encode()).decode()
    assert rx.requests[0].headers["Authorization"] == expected
    assert logs.find("endpoint paused by the circuit breaker") and logs.find("endpoint disabled: "
                                                                             "it answered 410 Gone; "
                                                                             "pending deliveries are kept")
    shown = [json.dumps(entry, default=str) for entry in logs.entries]
    assert not [line for line in shown if PASSWORD in line]
    assert any(rx.url("/private") in line for line in shown)
    for args in (("deliveries", "list", "--json"), ("endpoints", "list", "--json"), ("endpoints", "list")):
        code, out, err = await run_core(scripted_site, "--config", str(service.config), *args)
        assert code == 0, err
        assert PASSWORD not in out and rx.url("/private") in out


async def test_delivered_rows_are_pruned_after_the_retention_dead_ones_are_kept(tmp_path):
    async with Receiver() as rx:
        rx.respond("/dead", then=fail(500))
        webhooks = [{"url": rx.url("/ok"), "events": ["message"]},
                    {"url": rx.url("/dead"), "events": ["message"], "retries": {"attempts": 0}}]
        first = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", n) for n in range(3)]})
        await first.run_to_end()
        assert store_statuses(first.config) == {(rx.url("/ok"), "delivered"): 3, (rx.url("/dead"), "dead"): 3}
        second = build_service(tmp_path, webhooks=webhooks, sessions={}, delivery={"retention_hours": 0})
        with watch_logs() as logs:
            await second.run_to_end()
    [pruned] = logs.find("delivered rows pruned")
    assert (pruned["deliveries"], pruned["retention_hours"]) == (3, 0)
    assert store_statuses(second.config) == {(rx.url("/dead"), "dead"): 3}


async def test_pending_work_of_an_endpoint_no_longer_configured_does_not_hold_a_replay(tmp_path):
    """After the URL changed, the old endpoint's undelivered rows are kept (and reported), and
    a run that exits when done still exits."""
    async with Receiver() as rx:
        old = build_service(tmp_path, sessions={"default": [message("1@c.us", 1)]}, exit_when_done=False,
                            kernel={"grace_seconds": 0.1},
                            webhooks=[{"url": "http://127.0.0.1:9/gone-for-good", "events": ["message"],
                                       "retries": {"delay_seconds": 60}}])
        with watch_logs() as logs:
            async with old.running():
                await logs.wait_for("delivery attempt")
        new = build_service(tmp_path, sessions={"default": [message("1@c.us", 2)]},
                            webhooks=[{"url": rx.url("/new"), "events": ["message"]}])
        with watch_logs() as logs:
            await new.run_to_end(timeout=10)
    assert [r.json()["payload"]["seq"] for r in rx.requests] == [2]
    [orphaned] = logs.find("deliveries kept for an endpoint that is no longer configured")
    assert orphaned["log_level"] == "warning"
    assert (orphaned["endpoint"], orphaned["deliveries"]) == ("http://127.0.0.1:9/gone-for-good", 1)
    assert store_statuses(new.config)[("http://127.0.0.1:9/gone-for-good", "pending")] == 1


async def test_the_store_is_idempotent_recovers_claims_and_orders_chats(tmp_path):
    path = store_file(tmp_path / "unit.toml")
    first, store = SQLiteDeliveryStore(path), SQLiteDeliveryStore(path)
    await first.open()
    await store.open()
    try:
        events = [StoredEvent(f"evt_{n}", "message", "s", n, b"{}") for n in range(4)]
        deliveries = [NewDelivery(f"dlv_{n}", f"evt_{n}", "ep", "http://127.0.0.1:9/", "s/chat-a" if n < 3 else "s/b", 0)
                      for n in range(4)]
        await first.add(events, deliveries)
        await first.add(events, deliveries)  # a replayed batch changes nothing
        assert await first.counts() == {"pending": 4}
        claimed = await first.claim_due("ep", now=10, limit=10, per_chat=True)
        assert [c.id for c in claimed] == ["dlv_0", "dlv_3"]  # the oldest of each chat
        assert await first.claim_due("ep", now=10, limit=10, per_chat=True) == []
        assert await store.recover() == 0  # their dispatcher runs: its claims are its own
        await first.close()  # it stops (a crash or kill -9 does the same to its claims)
        assert await store.recover() == 2  # claims of a dispatcher that is gone: pending again
        claimed = await store.claim_due("ep", now=10, limit=10, per_chat=False)
        assert [c.id for c in claimed] == ["dlv_0", "dlv_1", "dlv_2", "dlv_3"]
        await store.record([AttemptRecord("dlv_0", 1, 10, 1.0, 500, None, "no", "dead", None)])
        await store.release(["dlv_1", "dlv_2", "dlv_3"])
        # dlv_0 is final (dead): dlv_1 is now the head of its chat.
        assert [c.id for c in await store.claim_due("ep", now=10, limit=10, per_chat=True)] == ["dlv_1", "dlv_3"]
        assert await store.unfinished() == 3
        assert await store.retry(None, DeliveryFilter(status="dead")) == 1
        row, attempts = await store.get_delivery("dlv_0")
        assert (row.status, row.attempts, [a.status for a in attempts]) == ("pending", 1, [500])
    finally:
        await first.close()
        await store.close()
