"""Deliveries and endpoints over the API (list, show, re-send, enable) and ``/health``, against
real deliveries to a real receiver (``/metrics``: ``test_api_metrics.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from api_service import build, msg, serving
from webhook_receiver import Receiver, black_hole, fail, ok


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll an API condition (the store is written by the dispatcher in the background)."""
    with anyio.fail_after(timeout):
        while True:
            result = await check()
            if result:
                return result
            await anyio.sleep(0.02)


async def every_delivery_final(api: Any, count: int) -> bool:
    """The store holds ``count`` deliveries, each delivered, dead or held (a gone endpoint)."""
    _, rows = await api.get("/api/deliveries?limit=100")
    return len(rows) == count and all(r["status"] in ("delivered", "dead", "disabled") for r in rows)


async def test_deliveries_endpoints_health_and_metrics(tmp_path):
    async with Receiver() as rx:
        rx.respond("/dead", then=fail(500))
        rx.respond("/gone", then=fail(410))
        service = build(tmp_path)
        rec = service.recording("r.jsonl", [msg(n) for n in range(3)])
        hooks = [{"url": rx.url("/ok"), "events": ["message"]},
                 {"url": rx.url("/dead"), "events": ["message"], "retries": {"attempts": 0}},
                 {"url": rx.url("/gone"), "events": ["message"]}]
        async with serving(service) as api:
            code, _ = await api.post("/api/sessions", {"name": "s", "engine": "SCRIPTED", "config": {
                "source": "replay", "replay": rec, "webhooks": hooks}})
            assert code == 201

            await until(lambda: every_delivery_final(api, 9))
            code, dead = await api.get("/api/deliveries?status=dead")
            assert code == 200 and len(dead) == 3
            assert {d["endpoint"] for d in dead} == {f"s/{rx.url('/dead')}"}
            assert all(d["last_status"] == 500 and d["attempts"] == 1 for d in dead)
            code, some = await api.get("/api/deliveries?session=s&event=message&limit=2")
            assert len(some) == 2
            code, none = await api.get("/api/deliveries?session=other")
            assert none == []

            code, detail = await api.get(f"/api/deliveries/{dead[0]['id']}")
            assert code == 200 and [a["status"] for a in detail["attempt_log"]] == [500]
            assert detail["attempt_log"][0]["attempt"] == 1
            assert (await api.get("/api/deliveries/dlv_nope"))[0] == 404

            code, endpoints = await api.get("/api/endpoints")
            states = {e["url"]: e["state"] for e in endpoints}
            assert states == {rx.url("/ok"): "active", rx.url("/dead"): "active",
                              rx.url("/gone"): "disabled"}
            gone = next(e for e in endpoints if e["url"] == rx.url("/gone"))
            assert gone["pending"] == 3 and gone["reason"] == "410 Gone"

            code, health = await api.get("/health")
            assert (code, health["status"], health["error"]) == (200, "ok", {})
            delivery, sessions = health["details"]["delivery"], health["details"]["sessions"]
            assert health["info"] == health["details"]  # every check is up
            assert delivery["status"] == "up" and delivery["dead"] == 3
            assert sessions["status"] == "up" and sessions["sessions"] == {"s": "STOPPED"}
            assert delivery["disabled_endpoints"] == [gone["endpoint"]]

            # Re-send one dead delivery, then every other dead one: the receiver now says 200.
            rx.respond("/dead", then=ok())
            code, queued = await api.post(f"/api/deliveries/{dead[0]['id']}/retry")
            assert (code, queued) == (200, {"queued": 1})
            assert (await api.post("/api/deliveries/dlv_nope/retry"))[0] == 404
            code, queued = await api.post("/api/deliveries/retry", {"status": "dead", "session": "s"})
            assert code == 200 and queued["queued"] in (1, 2)  # the first may still be pending
            code, error = await api.post("/api/deliveries/retry", {})
            assert (code, error["path"]) == (422, "$.status")
            code, error = await api.post("/api/deliveries/retry", {"ids": ["a"], "status": "dead"})
            assert code == 422

            rx.respond("/gone", then=ok())
            code, enabled = await api.post("/api/endpoints/enable", {"endpoint": rx.url("/gone")})
            assert (code, enabled["queued"]) == (200, 3)
            code, error = await api.post("/api/endpoints/enable", {"endpoint": "http://nowhere/"})
            assert (code, error["error"]) == (404, "not_found")

            async def all_delivered() -> bool:
                _, rows = await api.get("/api/deliveries?status=delivered")
                return len(rows) == 9

            await until(all_delivered)


# 20: every delivery is claimed into the worker's queue behind the one attempt that never ends;
# 1,500: more than the worker claims ahead (its prefetch), so the rest wait due in the store.
@pytest.mark.parametrize("messages", [20, 1500])
async def test_health_is_503_when_delivery_is_stuck(tmp_path, messages):
    async with Receiver() as rx:
        rx.respond("/hole", then=black_hole())
        service = build(tmp_path, api={"stuck_after_seconds": 0.3}, kernel={"grace_seconds": 0.2},
                        webhooks=[{"url": rx.url("/hole"), "events": ["message"], "concurrency": 1,
                                   "timeout_seconds": 60}])
        rec = service.recording("r.jsonl", [msg(n) for n in range(messages)])
        async with serving(service) as api:
            code, health = await api.get("/health")
            assert (code, health["status"]) == (200, "ok")
            assert health["info"]["delivery"]["message"] == "delivery is making progress"
            await api.post("/api/sessions", {"name": "s", "engine": "SCRIPTED",
                                             "config": {"source": "replay", "replay": rec}})

            async def stuck() -> dict | None:
                code, body = await api.get("/health")
                # The oldest delivery's age counts from when the store took it, a moment after
                # it was due: once stuck, wait until that age is past the limit too.
                old = code == 503 and body["error"]["delivery"]["oldest_pending_age_seconds"] >= 0.3
                return body if old else None

            health = await until(stuck)
    delivery = health["error"]["delivery"]
    assert health["status"] == "error" and delivery["status"] == "down"
    assert delivery["stuck_endpoints"] == [rx.url("/hole")] and "delivery" not in health["info"]
    assert health["info"]["sessions"]["status"] == "up"  # the sessions are fine
    assert delivery["in_flight"] + delivery["pending"] == messages
    assert (delivery["pending"] > 0) == (messages > 256)  # the prefetch of concurrency 1
    assert delivery["max_overdue_seconds"] >= 0.3  # reported rounded to ms
    assert delivery["oldest_pending_age_seconds"] >= 0.3
    assert "without an attempt" in delivery["message"]
