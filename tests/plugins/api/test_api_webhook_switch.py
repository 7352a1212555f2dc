"""A session's webhooks changed over the API while its events flow: applied without a restart,
and every event goes to exactly one of the two URLs, the old one before the switch and the new
one after it (nothing lost, nothing misrouted, nothing twice)."""

from __future__ import annotations

import anyio
from api_service import build, msg, serving
from webhook_receiver import Receiver

EVENTS = 300


async def test_webhooks_change_while_events_flow_nothing_lost_or_misrouted(tmp_path):
    async with Receiver() as rx:
        service = build(tmp_path)
        # Paced by the records' ``ts``: 5 ms apart, so events are flowing when the switch comes.
        rec = service.recording("flow.jsonl", [msg(n, ts=1_000 + 5 * n) for n in range(EVENTS)])
        config = {"source": "replay", "replay": rec, "pace": "recorded",
                  "metadata": {"tenant": "t"}}
        async with serving(service) as api:
            code, info = await api.post("/api/sessions", {
                "name": "flow", "engine": "SCRIPTED",
                "config": {**config, "webhooks": [{"url": rx.url("/old"), "events": ["message"]}]}})
            assert code == 201, info
            await rx.wait_delivered(40, "/old")
            session_object = service.kernel.engine_sessions["flow"]
            code, info = await api.put("/api/sessions/flow", {
                "config": {**config, "webhooks": [{"url": rx.url("/new"), "events": ["message"]}]}})
            assert code == 200, info
            assert [h["url"] for h in info["config"]["webhooks"]] == [rx.url("/new")]
            assert service.kernel.engine_sessions["flow"] is session_object  # not restarted
            await rx.wait_until(lambda: len(rx.delivered()) >= EVENTS, timeout=20)
            with anyio.move_on_after(0.3):  # anything extra (a duplicate) would arrive now
                await rx.wait_until(lambda: len(rx.requests) > EVENTS)
    old = [r.json()["payload"]["seq"] for r in rx.delivered("/old")]
    new = [r.json()["payload"]["seq"] for r in rx.delivered("/new")]
    assert len(rx.requests) == EVENTS  # each event once, no retry needed
    assert sorted(old + new) == list(range(EVENTS))
    assert old and new and max(old) < min(new), (max(old), min(new))
    assert {r.json()["session"] for r in rx.requests} == {"flow"}


async def test_changing_more_than_webhooks_restarts_the_session(tmp_path):
    async with Receiver() as rx:
        service = build(tmp_path)
        rec = service.recording("r.jsonl", [msg(1, ts=1), msg(2, ts=3_600_000)])
        hook = {"url": rx.url("/h"), "events": ["message"]}
        async with serving(service) as api:
            await api.post("/api/sessions", {"name": "s", "engine": "SCRIPTED", "config": {
                "source": "replay", "replay": rec, "pace": "recorded", "metadata": {"v": "1"},
                "webhooks": [hook]}})
            await rx.wait_delivered(1, "/h")
            first = service.kernel.engine_sessions["s"]
            code, info = await api.put("/api/sessions/s", {"config": {
                "source": "replay", "replay": rec, "pace": "recorded", "metadata": {"v": "2"},
                "webhooks": [hook]}})
            assert code == 200 and info["config"]["metadata"] == {"v": "2"}
            await rx.wait_delivered(2, "/h")
            assert service.kernel.engine_sessions["s"] is not first
            code, error = await api.put("/api/sessions/s", {"name": "other", "config": {}})
            assert (code, error["path"]) == (422, "$.name")
    assert [r.json()["metadata"]["v"] for r in rx.delivered("/h")] == ["1", "2"]
