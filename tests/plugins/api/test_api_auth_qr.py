"""Logging a session in over the API, as WAHA has it: the QR code (PNG, raw text, base64 JSON)
of a session waiting for a scan, a pairing code returned in the answer, ``me``, logout, and
what a command's failure becomes (the scripted fake bridge, a real subprocess)."""

from __future__ import annotations

import base64
import struct

from api_service import build, record, serving
from live_bridge import ME, LiveBridgePlugin, waiting_for_login, working


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


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
    working_rec = service.recording("working.jsonl", [
        record("session.status", {"name": "k", "status": "WORKING"}, ts=1),
        record("session.status", {"name": "k", "status": "WORKING"}, ts=3_600_000)])
    async with serving(service) as api:
        for name, rec in (("n", noweb), ("w", webjs), ("k", working_rec)):
            await api.post("/api/sessions", {"name": name, "engine": "SCRIPTED", "config": {
                "source": "replay", "replay": rec, "pace": "recorded"}})
        await api.wait_status("k", "WORKING")
        code, raw = await api.get("/api/n/auth/qr?format=raw")  # waits for the QR to show
        assert (code, raw) == (200, {"value": "2@noweb-qr-text"})
        code, raw = await api.get("/api/w/auth/qr?format=raw")
        assert (code, raw) == (200, {"value": "2@webjs-qr-text"})
        async with api.http.get(api.base + "/api/n/auth/qr") as response:
            assert response.status == 200 and response.content_type == "image/png"
            png = await response.read()
        width, height = png_size(png)
        assert width == height and width % 6 == 0 and width >= 6 * 21  # QR modules, scale 6
        # Accept: application/json -> the same PNG, base64, as WAHA answers it.
        code, as_json = await api.get("/api/n/auth/qr", headers={"Accept": "application/json"})
        assert code == 200 and as_json["mimetype"] == "image/png"
        assert base64.b64decode(as_json["data"]) == png
        code, error = await api.get("/api/n/auth/qr?format=svg")
        assert (code, error["path"]) == (422, "query.format")
        # Logged in: no QR (after WAHA's wait), 422 naming the status.
        code, error = await api.get("/api/k/auth/qr")
        assert (code, error["error"]) == (422, "not_scan_qr_code") and "WORKING" in error["detail"]
        await api.post("/api/sessions/n/stop")
        code, error = await api.get("/api/n/auth/qr")
        assert (code, error["error"]) == (404, "not_running")
        code, error = await api.get("/api/nobody/auth/qr")
        assert (code, error["error"]) == (404, "not_found")


async def test_pairing_code_me_and_logout_through_the_live_bridge(tmp_path):
    # Run 1 waits for a login; run 2 (after the logout restarted it) too; run 3 is logged in.
    plugin = LiveBridgePlugin([waiting_for_login(), waiting_for_login(), working()],
                              tmp_path / "bridge-data")
    service = build(tmp_path, extra_plugins=[("live", plugin)])
    async with serving(service) as api:
        code, info = await api.post("/api/sessions", {"name": "live", "engine": "TEST"})
        assert code == 201 and info["engine"] == {"engine": "TEST", "source": "bridge"}
        await api.wait_status("live", "SCAN_QR_CODE")
        code, answer = await api.post("/api/live/auth/request-code", {"phoneNumber": "+12132132130"})
        assert (code, answer) == (201, {"code": "WXYZ-1234"})
        code, error = await api.post("/api/live/auth/request-code",
                                     {"phoneNumber": "12132132130", "method": "sms"})
        assert (code, error["error"], error["path"]) == (422, "unsupported", "$.method")
        code, me = await api.get("/api/sessions/live/me")
        assert (code, me) == (200, None)  # not logged in: no account yet

        code, info = await api.post("/api/sessions/live/logout")
        assert code == 201 and info["running"] is True  # started again, for a new login
        await api.wait_status("live", "SCAN_QR_CODE")
        code, info = await api.post("/api/sessions/live/restart")
        assert code == 201
        info = await api.wait_status("live", "WORKING")
        assert info["presence"] == "online" and info["timestamps"]["activity"] > 0
        code, me = await api.get("/api/sessions/live/me")  # asked of the bridge
        assert (code, me) == (200, {"id": ME, "pushName": "Tester"})
        code, profile = await api.get("/api/live/profile")
        assert (code, profile) == (200, {"id": ME, "name": "Tester", "picture": None})
        code, info = await api.post("/api/sessions/live/stop")
        assert (code, info["status"]) == (201, "STOPPED")
        code, error = await api.get("/api/sessions/live/me")
        assert (code, error["error"]) == (404, "not_running")
    sent = [(c["cmd"], c.get("phone")) for c in plugin.commands("live")]
    assert sent[:3] == [("pairing-code", "12132132130"), ("logout", None), ("stop", None)]
    assert ("me", None) in sent


async def test_a_failing_command_answers_as_waha_does(tmp_path):
    plugin = LiveBridgePlugin([[{"record": {"type": "status", "data": "WORKING"}},
                                {"heartbeat": "WORKING"},
                                {"answers": {"pairing-code": {"error": {
                                    "code": "not_working", "message": "already logged in"}}}},
                                {"wait": True}]], tmp_path / "bridge-data")
    service = build(tmp_path, extra_plugins=[("live", plugin)])
    async with serving(service) as api:
        await api.post("/api/sessions", {"name": "x", "engine": "TEST"})
        await api.wait_status("x", "WORKING")
        code, error = await api.post("/api/x/auth/request-code", {"phoneNumber": "12132132130"})
        assert (code, error["error"]) == (422, "not_working")
        assert "already logged in" in error["detail"]
