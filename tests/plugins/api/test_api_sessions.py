"""Sessions over the API: created, listed, changed, stopped, started and deleted while the
service runs, their webhooks applied to them alone, and kept across a restart."""

from __future__ import annotations

from api_service import ME, build, msg, record, serving
from webhook_receiver import Receiver
from webhook_service import watch_logs


def webhook(rx: Receiver, path: str, events: list[str] | None = None, **extra: object) -> dict:
    return {"url": rx.url(path), "events": events or ["message"], **extra}


async def test_a_session_created_over_the_api_delivers_to_its_own_webhooks(tmp_path):
    async with Receiver() as rx:
        service = build(tmp_path)
        name = service.recording("a.jsonl", [msg(n) for n in range(3)])
        async with serving(service) as api:
            code, info = await api.post("/api/sessions", {
                "name": "alpha", "engine": "SCRIPTED",
                "config": {"source": "replay", "replay": name, "me_id": ME, "metadata": {"t": "1"},
                           "webhooks": [webhook(rx, "/alpha", hmac={"key": "k1"},
                                                customHeaders=[{"name": "X-Team", "value": "a"}],
                                                retries={"policy": "constant", "delaySeconds": 0.1,
                                                         "attempts": 2})]}})
            assert code == 201, info
            assert info["name"] == "alpha" and info["engine"] == {"engine": "SCRIPTED",
                                                                  "source": "replay"}
            assert info["origin"] == "api"
            assert info["config"]["webhooks"][0]["hmac"] == {"key": "***"}  # never shown
            received = await rx.wait_delivered(3, "/alpha")
        bodies = [r.json() for r in received]
        assert sorted(b["payload"]["seq"] for b in bodies) == [0, 1, 2]
        assert {(b["session"], b["metadata"]["t"], b["me"]["id"]) for b in bodies} == {("alpha", "1", ME)}
        assert all(r.headers["X-Team"] == "a" and "X-Webhook-Hmac" in r.headers for r in received)


async def test_list_get_stop_start_delete(tmp_path):
    async with Receiver() as rx:
        (tmp_path / "f.jsonl").write_text("")
        service = build(tmp_path, sessions=[{"name": "fromfile", "replay": str(tmp_path / "f.jsonl")}])
        # ``ts`` an hour apart, paced: the session stays running after its first events.
        held = service.recording("held.jsonl", [
            record("session.status", {"name": "held", "status": "WORKING"}, ts=1_000),
            msg(1, ts=1_000), msg(2, ts=3_600_000)])
        async with serving(service) as api:
            code, info = await api.post("/api/sessions", {
                "name": "held", "engine": "SCRIPTED",
                "config": {"source": "replay", "replay": held, "pace": "recorded",
                           "me_id": ME, "me_push_name": "Held",
                           "webhooks": [webhook(rx, "/held")]}})
            assert code == 201, info
            info = await api.wait_status("held", "WORKING")
            assert info["me"] == {"id": ME, "pushName": "Held"} and info["running"] is True
            await rx.wait_delivered(1, "/held")

            code, listed = await api.get("/api/sessions")
            assert code == 200 and [s["name"] for s in listed] == ["held"]  # fromfile has ended
            code, listed = await api.get("/api/sessions?all=true")
            assert {s["name"]: (s["status"], s["origin"]) for s in listed} == {
                "fromfile": ("STOPPED", "file"), "held": ("WORKING", "api")}

            code, info = await api.post("/api/sessions/held/stop")
            assert (code, info["status"], info["running"]) == (201, "STOPPED", False)
            assert service.kernel.session_names() == []
            code, info = await api.post("/api/sessions/held/start")
            assert code == 201 and info["running"] is True
            await api.wait_status("held", "WORKING")
            await rx.wait_delivered(2, "/held")  # started again: the recording plays again

            # A config-file session can be started and stopped, not changed or deleted.
            code, error = await api.put("/api/sessions/fromfile", {"config": {}})
            assert (code, error["error"]) == (409, "from_config_file")
            code, error = await api.delete("/api/sessions/fromfile")
            assert code == 409
            code, info = await api.post("/api/sessions/fromfile/start")
            assert code == 201

            code, gone = await api.delete("/api/sessions/held")
            assert (code, gone) == (200, b"")
            assert (await api.delete("/api/sessions/held")) == (200, b"")  # idempotent, as WAHA
            assert "held" not in service.kernel.session_names()
            code, error = await api.get("/api/sessions/held")
            assert (code, error["error"]) == (404, "not_found")
            code, error = await api.post("/api/sessions/held/start")
            assert code == 404


async def test_conflicts_and_bad_sessions_are_refused_with_the_field(tmp_path):
    service = build(tmp_path)
    rec = service.recording("r.jsonl", [msg(1)])
    (tmp_path / "outside.jsonl").write_text("")
    async with serving(service) as api:
        body = {"name": "s1", "engine": "SCRIPTED", "start": False,
                "config": {"source": "replay", "replay": rec}}
        assert (await api.post("/api/sessions", body))[0] == 201
        code, error = await api.post("/api/sessions", body)
        assert (code, error["error"], error["path"]) == (422, "exists", "$.name")  # as WAHA
        cases = [
            ({**body, "name": "s2", "engine": "NOPE"}, "$.engine"),
            ({**body, "name": "s3", "config": {"source": "replay", "replay": "../outside.jsonl"}},
             "$.config.replay"),
            ({**body, "name": "s4", "config": {"source": "replay"}}, "$.config.replay"),
            ({**body, "name": "bad name!"}, "$.name"),
            ({**body, "name": "s5", "config": {"webhooks": [{"url": "ftp://x", "events": ["message"]}]}},
             "$.config.webhooks[0].url"),
            ({**body, "name": "s6", "config": {"webhooks": [{"url": "http://127.0.0.1:1/",
                                                             "events": ["message", "nope"]}]}},
             "$.config.webhooks[0].events[1]"),
        ]
        for request, path in cases:
            code, error = await api.post("/api/sessions", request)
            assert (code, error.get("path")) == (422, path), (request, error)
        code, listed = await api.get("/api/sessions?all=true")
        assert [s["name"] for s in listed] == ["s1"]


async def test_sessions_and_their_webhooks_survive_a_restart(tmp_path):
    async with Receiver() as rx:
        first = build(tmp_path, name="first")
        rec = first.recording("r.jsonl", [msg(n) for n in range(2)])
        async with serving(first) as api:
            for name, start in (("kept", True), ("idle", False)):
                code, info = await api.post("/api/sessions", {
                    "name": name, "engine": "SCRIPTED", "start": start,
                    "config": {"source": "replay", "replay": rec,
                               "webhooks": [webhook(rx, f"/{name}")]}})
                assert code == 201, info
            await rx.wait_delivered(2, "/kept")

        second = build(tmp_path, name="second", delivery={"store_path": str(tmp_path / "first.sqlite3")})
        with watch_logs() as logs:
            async with serving(second) as api:
                code, listed = await api.get("/api/sessions?all=true")
                assert {s["name"] for s in listed} == {"kept", "idle"}
                assert "idle" not in second.kernel.session_names()
                code, info = await api.post("/api/sessions/idle/start")
                assert code == 201
                await rx.wait_delivered(2, "/idle")
        # Restored: "kept", running before, was started again (what its replay emits again is
        # the replay's business), "idle" was not.
        assert logs.find("session started at boot", session="kept")
        assert not logs.find("session started at boot", session="idle")
    assert rx.at("/idle") and all(r.json()["session"] == "idle" for r in rx.at("/idle"))
    assert all(r.json()["session"] == "kept" for r in rx.at("/kept"))


async def test_logout_and_pairing_codes_need_a_live_session(tmp_path):
    service = build(tmp_path)
    rec = service.recording("r.jsonl", [msg(1, ts=1), msg(2, ts=3_600_000)])
    async with serving(service) as api:
        await api.post("/api/sessions", {"name": "rep", "engine": "SCRIPTED",
                                         "config": {"source": "replay", "replay": rec, "pace": "recorded"}})
        code, error = await api.post("/api/sessions/rep/logout")
        assert (code, error["error"]) == (422, "not_live")
        code, error = await api.post("/api/rep/auth/request-code", {"phoneNumber": "12132132130"})
        assert (code, error["error"]) == (422, "not_live")
        code, error = await api.post("/api/rep/auth/request-code", {"phoneNumber": "not a phone"})
        assert (code, error["path"]) == (422, "$.phoneNumber")
        await api.post("/api/sessions/rep/stop")
        code, error = await api.post("/api/sessions/rep/logout")
        assert (code, error["error"]) == (404, "not_running")
        assert error["detail"] == ("session 'rep' is not running: start it first with POST "
                                   "/api/sessions/rep/start")
        code, error = await api.post("/api/nobody/auth/request-code", {"phoneNumber": "12132132130"})
        assert code == 404
