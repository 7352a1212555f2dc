"""Sessions tell the truth over the API: a live session that keeps failing is FAILED with its
last error and restarts in its resource, a WORKING one gone silent is restarted with the stall
counted, and ``/health`` is not ok while a session is failing or stalled (failed, and silent
since), against the scripted fake bridge."""

from __future__ import annotations

import anyio
from api_service import build, serving
from live_bridge import LiveBridgePlugin, working

CLOSED = ('{"level":"warn","msg":"connection closed; hookwire will reconnect",'
          '"error":"Connection Failure"}')


async def health_when(api, check, timeout: float = 20.0) -> dict:
    with anyio.fail_after(timeout):
        while True:
            code, body = await api.get("/health")
            if check(code, body):
                return body
            await anyio.sleep(0.05)


async def test_a_session_that_keeps_failing_is_failed_and_health_says_so(tmp_path):
    plugin = LiveBridgePlugin([[{"stderr": CLOSED}, {"exit": 75}]], tmp_path / "bridge",
                              fail_after=2, fail_window=60)
    service = build(tmp_path, extra_plugins=[("live", plugin)])
    async with serving(service) as api:
        await api.post("/api/sessions", {"name": "broken", "engine": "TEST"})
        info = await api.wait_status("broken", "FAILED", timeout=20)
        assert info["last_error"] == "connection closed; hookwire will reconnect: Connection Failure"
        assert info["restarts"] == 1 and info["last_error_at"] > 0
        health = await health_when(api, lambda code, body: code == 503)
    sessions = health["error"]["sessions"]
    assert health["status"] == "error" and sessions["status"] == "down"
    assert sessions["failing"] == ["broken"] and sessions["sessions"] == {"broken": "FAILED"}
    assert sessions["errors"] == {"broken": info["last_error"]}
    assert sessions["message"] == "failing: broken"
    assert health["info"]["delivery"]["status"] == "up"  # delivery itself is fine


async def test_a_session_silent_since_its_last_failure_is_stalled(tmp_path):
    # Each run dies at once; the next one waits out a long backoff: failed, silent since.
    plugin = LiveBridgePlugin([[{"stderr": CLOSED}, {"exit": 75}]], tmp_path / "bridge",
                              fail_after=0, backoff_initial=60, backoff_max=60)
    service = build(tmp_path, extra_plugins=[("live", plugin)])
    async with serving(service) as api:
        code, health = await api.get("/health")
        assert (code, health["status"]) == (200, "ok")
        await api.post("/api/sessions", {"name": "quiet", "engine": "TEST"})
        health = await health_when(api, lambda code, body: code == 503)
        code, info = await api.get("/api/sessions/quiet")
        await api.post("/api/sessions/quiet/stop")
        code, after = await api.get("/health")
        assert (code, after["status"]) == (200, "ok")  # stopped: nothing is failing any more
    assert health["error"]["sessions"]["stalled"] == ["quiet"]
    assert health["error"]["sessions"]["failing"] == []
    assert info["status"] == "STARTING" and info["running"] and info["last_error"]


async def test_a_working_session_gone_silent_is_restarted_and_the_stall_shown(tmp_path):
    silent = [{"record": {"type": "status", "data": "WORKING"}}, {"heartbeat": "WORKING"},
              {"silent": True}, {"wait": True}]
    plugin = LiveBridgePlugin([silent, working()], tmp_path / "bridge", heartbeat_seconds=0.2,
                              stall_seconds=1.0)
    service = build(tmp_path, extra_plugins=[("live", plugin)])
    async with serving(service) as api:
        await api.post("/api/sessions", {"name": "hung", "engine": "TEST"})
        with anyio.fail_after(20):
            while True:
                code, info = await api.get("/api/sessions/hung")
                if info["stalls"] == 1 and plugin.sessions[0].runs == 2:
                    break
                await anyio.sleep(0.05)
        info = await api.wait_status("hung", "WORKING")  # the second run works
    # Restarted by the watchdog, the stall counted and shown.
    assert info["running"] is True and info["stalls"] == 1
