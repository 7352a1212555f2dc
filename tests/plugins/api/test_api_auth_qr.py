"""Logging a session in over the API: the QR code (PNG and text) of a session waiting for a
scan, a pairing code and a logout sent to a live bridge (the scripted fake bridge)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import anyio
from api_service import build, record, serving

BRIDGE_TESTS = Path(__file__).resolve().parents[2] / "engines" / "bridge"


async def test_the_qr_code_of_a_session_waiting_for_a_scan(tmp_path):
    service = build(tmp_path)
    noweb = service.recording("noweb.jsonl", [
        record("session.status", {"name": "n", "status": "SCAN_QR_CODE"}, ts=1),
        record("state.change", {"qr": "2@noweb-qr-text"}, ts=1),
        record("session.status", {"name": "n", "status": "WORKING"}, ts=3_600_000)])
    webjs = service.recording("webjs.jsonl", [
        record("session.status", {"name": "w", "status": "SCAN_QR_CODE"}, ts=1),
        record("engine.event", {"event": "qr", "data": "2@webjs-qr-text"}, ts=1),
        record("engine.event", {"event": "ready"}, ts=3_600_000)])
    async with serving(service) as api:
        for name, rec in (("n", noweb), ("w", webjs)):
            await api.post("/api/sessions", {"name": name, "engine": "SCRIPTED", "config": {
                "source": "replay", "replay": rec, "pace": "recorded"}})
            await api.wait_status(name, "SCAN_QR_CODE")
        code, raw = await api.get("/api/n/auth/qr?format=raw")
        assert (code, raw) == (200, {"value": "2@noweb-qr-text"})
        code, raw = await api.get("/api/w/auth/qr?format=raw")
        assert (code, raw) == (200, {"value": "2@webjs-qr-text"})
        async with api.http.get(api.base + "/api/n/auth/qr") as response:
            assert response.status == 200 and response.content_type == "image/png"
            png = await response.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert width == height and width % 6 == 0 and width >= 6 * 21  # QR modules, scale 6
        code, error = await api.get("/api/n/auth/qr?format=svg")
        assert (code, error["path"]) == (422, "query.format")
        await api.post("/api/sessions/n/stop")
        code, error = await api.get("/api/n/auth/qr")
        assert (code, error["error"]) == (404, "no_qr")
        code, error = await api.get("/api/nobody/auth/qr")
        assert (code, error["error"]) == (404, "not_found")


async def test_pairing_code_and_logout_reach_the_live_bridge(tmp_path):
    sys.path.insert(0, str(BRIDGE_TESTS))
    try:
        from bridge_helpers import count  # type: ignore[import-not-found]
        from test_bridge_kernel import BridgeTestPlugin  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BRIDGE_TESTS))
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps([[count("a"), {"wait": True}]]))
    plugin = BridgeTestPlugin(scenario, tmp_path / "bridge-data")
    service = build(tmp_path, extra_plugins=[("bridge-test", plugin)])
    async with serving(service) as api:
        code, info = await api.post("/api/sessions", {"name": "live", "engine": "TEST"})
        assert code == 201 and info["config"]["source"] == "bridge"
        while not any(e.name == "engine.event" for e in plugin.sink.received):  # the bridge is up
            await plugin.sink.changed.wait()
        (bridge,) = plugin.sessions
        code, answer = await api.post("/api/live/auth/request-code", {"phoneNumber": "+12132132130"})
        assert code == 202 and answer["phoneNumber"] == "+12132132130"
        code, info = await api.post("/api/sessions/live/logout")
        assert code == 200
        commands_file = bridge.auth_dir / "commands.jsonl"
        with anyio.fail_after(10):
            while len(commands_file.read_text().splitlines() if commands_file.exists() else []) < 2:
                await anyio.sleep(0.02)
        code, info = await api.post("/api/sessions/live/stop")
        assert (code, info["status"]) == (200, "STOPPED")
    commands = [json.loads(line) for line in commands_file.read_text().splitlines()]
    assert commands == [{"cmd": "pairing-code", "phone": "+12132132130"}, {"cmd": "logout"},
                        {"cmd": "stop"}]
