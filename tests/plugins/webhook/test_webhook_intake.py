"""New deliveries go straight from the intake to their worker only while the store holds no
backlog for the endpoint: a backlog left by an earlier run is delivered first, oldest first,
then the new events; nothing is starved, lost or sent twice."""

from __future__ import annotations

from webhook_receiver import Receiver
from webhook_service import build_service, message, store_statuses


async def test_a_backlog_in_the_store_goes_before_the_new_events(tmp_path):
    old, new = 60, 60
    async with Receiver() as rx:
        hook = {"url": rx.url(), "events": ["message"], "concurrency": 1}  # one at a time: arrival = order
        earlier = build_service(tmp_path, name="run", webhooks=[hook], kernel={"role": "engines"},
                                sessions={"default": [message("1@c.us", n) for n in range(old)]})
        await earlier.run_to_end()  # written, not sent: the backlog
        assert rx.requests == []
        later = build_service(tmp_path, name="run", webhooks=[hook],
                              sessions={"default": [message("2@c.us", n) for n in range(old, old + new)]})
        await later.run_to_end(timeout=30)
    seqs = [r.json()["payload"]["seq"] for r in rx.requests]
    assert seqs == list(range(old + new))  # the backlog first, oldest first, then the new ones
    assert store_statuses(later.config) == {(rx.url(), "delivered"): old + new}
