"""WAHA's own client, ``waha-py``, against the real server: every session, auth, profile and
server route, each answer validated against waha-py's models (``waha_models.py`` says where
they are wrong against WAHA). Live sessions run the scripted fake bridge (a real subprocess);
QR codes come from replay sessions."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from api_service import API_KEY, build, record, serving
from live_bridge import ME, LiveBridgePlugin, waiting_for_login, working
from waha import AsyncWahaClient, models
from waha_models import dump, my_profile, session_info, webhook, with_webhooks
from webhook_receiver import Receiver

HMAC_KEY = "waha-py-hmac-key"


@asynccontextmanager
async def waha_client(api) -> AsyncIterator[AsyncWahaClient]:
    client = AsyncWahaClient(api.base, api_key=API_KEY, timeout=30)
    try:
        yield client
    finally:
        await client.close()


def full_config() -> models.SessionConfig:
    """WAHA's whole SessionConfig, every part set."""
    return models.SessionConfig(
        metadata={"team": "support"},
        proxy=models.ProxyConfig(server="proxy.example:3128", username="proxy-user",
                                 password="proxy-pass"),
        debug=True,
        ignore=models.IgnoreConfig(status=True, groups=True),
        client=models.ClientSessionConfig(deviceName="Hookwire", browserName="Firefox"),
        noweb=models.NowebConfig(markOnline=False,
                                 store=models.NowebStoreConfig(enabled=True, fullSync=False)),
        gows=models.GowsConfig(storage=models.GowsStorageConfig(messages=True)),
        webjs=models.WebjsConfig(tagsEventsOn=True))


async def event_received(rx: Receiver, path: str, event: str, status: str):
    """The first delivery of ``event`` with ``payload.status == status`` at ``path``."""
    def found():
        return next((r for r in rx.at(path) if r.json()["event"] == event
                     and r.json()["payload"].get("status") == status), None)

    await rx.wait_until(lambda: found() is not None)
    return found()


def signed_with(received, key: str) -> bool:
    expected = hmac.new(key.encode(), received.body, hashlib.sha512).hexdigest()
    return hmac.compare_digest(received.headers["X-Webhook-Hmac"], expected)


async def test_waha_py_drives_every_session_route(tmp_path):
    # The bridge runs: 1 waits for a login; 2 (after the PUT restarted it) and later are logged in.
    plugin = LiveBridgePlugin([waiting_for_login(), working()], tmp_path / "bridge", engine="NOWEB")
    service = build(tmp_path, api={"api_key": API_KEY, "default_engine": "NOWEB"},
                    extra_plugins=[("live", plugin)])
    async with Receiver() as rx, serving(service, key=API_KEY) as api, waha_client(api) as waha:
        assert await waha.sessions.a_list() == []
        hook = webhook(rx.url("/hook"), ["session.status", "message"],
                       hmac=models.HmacConfiguration(key=HMAC_KEY),
                       retries=models.RetriesConfiguration(delaySeconds=0.1, attempts=2,
                                                           policy=models.Policy.constant),
                       customHeaders=[models.CustomHeader(name="Authorization", value="Bearer t0ken"),
                                      models.CustomHeader(name="X-Team", value="support")])
        app = models.App(id="app_1", session="support", app=models.App1.chatwoot, config={"x": 1})
        request = with_webhooks(dump(models.SessionCreateRequest(
            name="support", start=True, config=full_config(), apps=[app])), [hook])
        assert request["config"]["webhooks"][0]["hmac"] == {"key": HMAC_KEY}
        assert request["config"]["noweb"]["store"] == {"enabled": True, "fullSync": False}
        created = await waha.sessions.a_create(request)
        info = session_info(created)
        assert info.name == "support" and created["engine"] == {"engine": "NOWEB", "source": "bridge"}
        # What hookwire cannot apply is kept, returned and reported, never refused.
        assert created["config"]["gows"] == {"storage": {"messages": True}}
        warnings = "\n".join(created["warnings"])
        assert "config.noweb.store" in warnings and "config.gows" in warnings
        assert "config.webjs.tagsEventsOn" in warnings and "apps" in warnings
        # Secrets are shown masked.
        shown = created["config"]["webhooks"][0]
        assert shown["hmac"] == {"key": "***"} and created["config"]["proxy"]["password"] == "***"
        assert shown["customHeaders"] == [{"name": "Authorization", "value": "***"},
                                          {"name": "X-Team", "value": "support"}]

        await api.wait_status("support", "SCAN_QR_CODE")
        code = await waha.auth.a_request_code("support", dump(models.RequestCodeRequest(
            phoneNumber="12132132130")))
        assert code == {"code": "WXYZ-1234"}
        # What hookwire applies reached the bridge.
        args = plugin.args("support")
        for flag, value in (("--device-name", "Hookwire"), ("--browser-name", "Firefox"),
                            ("--proxy-username", "proxy-user"), ("--log-level", "debug")):
            assert args[args.index(flag) + 1] == value, flag
        assert "proxy.example:3128" in args[args.index("--proxy") + 1]
        assert "--no-mark-online" in args and "--tags-events" not in args  # a NOWEB session
        assert plugin.env("support") == {"HOOKWIRE_PROXY_PASSWORD": "proxy-pass"}
        kept = service.kernel.session_config("support")
        assert (kept.ignore.groups, kept.ignore.status, kept.ignore.channels) == (True, True, False)

        # Read-modify-write, as WAHA clients do: the masked secrets go back as they were read.
        got = await waha.sessions.a_get("support")
        session_info(got)
        got["config"]["metadata"] = {"team": "support", "tier": "gold"}
        updated = await waha.sessions.a_update("support", {"config": got["config"]})
        assert session_info(updated).config.metadata == {"team": "support", "tier": "gold"}
        info = await api.wait_status("support", "WORKING")  # restarted: a config change
        assert info["presence"] == "offline"  # noweb.markOnline = false
        working_hooks = await event_received(rx, "/hook", "session.status", "WORKING")
        assert signed_with(working_hooks, HMAC_KEY)  # the original key, not "***"
        assert working_hooks.headers["Authorization"] == "Bearer t0ken"
        assert working_hooks.json()["metadata"] == {"team": "support", "tier": "gold"}

        me = await waha.sessions.a_get_me("support")
        assert models.MeInfo.model_validate(me) == models.MeInfo(id=ME, pushName="Tester")
        assert my_profile(await waha.profile.a_get_my_profile("support")).id == ME

        stopped = await waha.sessions.a_stop("support")
        assert session_info(stopped).status == models.Status.STOPPED and stopped["presence"] is None
        assert await waha.sessions.a_list() == []  # running ones only
        listed = await waha.sessions.a_list(params={"all": "true"})
        assert [session_info(s).name for s in listed] == ["support"]
        started = await waha.sessions.a_start("support")
        assert session_info(started).name == "support" and started["running"] is True
        await api.wait_status("support", "WORKING")
        restarted = await waha.sessions.a_restart("support")
        assert session_info(restarted).name == "support"
        await api.wait_status("support", "WORKING")
        logged_out = await waha.sessions.a_logout("support")
        assert session_info(logged_out).name == "support"
        assert {"logout", "pairing-code", "stop"} <= {c["cmd"] for c in plugin.commands("support")}

        await waha.sessions.a_delete("support")
        with pytest.raises(httpx.HTTPStatusError) as missing:
            await waha.sessions.a_get("support")
        assert missing.value.response.status_code == 404


async def test_waha_py_deprecated_session_routes(tmp_path):
    plugin = LiveBridgePlugin([working()], tmp_path / "bridge", engine="NOWEB")
    service = build(tmp_path, api={"api_key": API_KEY, "default_engine": "NOWEB"},
                    extra_plugins=[("live", plugin)])
    async with serving(service, key=API_KEY) as api, waha_client(api) as waha:
        started = await waha.sessions.a_depracated_start(dump(models.SessionStartDeprecatedRequest(
            name="old", config=models.SessionConfig(metadata={"v": "1"}))))
        assert session_info(started).config.metadata == {"v": "1"}
        await api.wait_status("old", "WORKING")
        with pytest.raises(httpx.HTTPStatusError) as again:  # WAHA: already started
            await waha.sessions.a_depracated_start({"name": "old", "config": None})
        assert again.value.response.status_code == 422
        assert await waha.sessions.a_deprecated_stop(dump(models.SessionStopDeprecatedRequest(
            name="old", logout=False))) == ""
        assert (await waha.sessions.a_get("old"))["status"] == "STOPPED"
        await waha.sessions.a_depracated_start({"name": "old", "config": None})  # config kept
        assert session_info(await waha.sessions.a_get("old")).config.metadata == {"v": "1"}
        await api.wait_status("old", "WORKING")
        assert await waha.sessions.a_deprecated_logout(dump(models.SessionLogoutDeprecatedRequest(
            name="old"))) == ""
        assert await waha.sessions.a_list(params={"all": True}) == []  # logged out and deleted
    commands = [c["cmd"] for c in plugin.commands("old")]
    assert "logout" in commands and commands[-1] in ("logout", "stop")


async def test_waha_py_reads_the_qr_code_in_every_format(tmp_path):
    service = build(tmp_path, api={"api_key": API_KEY})
    rec = service.recording("qr.jsonl", [
        record("session.status", {"name": "q", "status": "SCAN_QR_CODE"}, ts=1),
        record("state.change", {"qr": "2@waha-py-qr"}, ts=1),
        record("session.status", {"name": "q", "status": "WORKING"}, ts=3_600_000)])
    async with serving(service, key=API_KEY) as api, waha_client(api) as waha:
        await waha.sessions.a_create(dump(models.SessionCreateRequest(name="q", start=True)) | {
            "engine": "SCRIPTED",
            "config": {"source": "replay", "replay": rec, "pace": "recorded"}})
        await api.wait_status("q", "SCAN_QR_CODE")
        raw = models.QRCodeValue.model_validate(
            await waha.auth.a_get_qr("q", params={"format": "raw"}))
        assert raw.value == "2@waha-py-qr"
        # waha-py asks for JSON (Accept: application/json): WAHA's {mimetype, data}.
        image = models.Base64File.model_validate(await waha.auth.a_get_qr("q"))
        assert image.mimetype == "image/png"
        assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")
        # Asked for the image itself: PNG bytes (waha-py hands them over as text).
        png = await waha.auth.a_get_qr("q", headers={"Accept": "image/png"})
        assert isinstance(png, str) and png[1:4] == "PNG"


async def test_waha_py_server_routes(tmp_path, monkeypatch):
    monkeypatch.setenv("WHATSAPP_HOOK_HMAC_KEY", "env-secret-value")  # shown, masked
    monkeypatch.setenv("WHATSAPP_HOOK_URL", "https://user:url-secret@hooks.example/in")
    service = build(tmp_path, api={"api_key": API_KEY}, kernel={"worker_id": "worker-7"})
    async with serving(service, key=API_KEY) as api, waha_client(api) as waha:
        version = models.WAHAEnvironment.model_validate(await waha.server.a_get())
        assert version.worker.id == "worker-7" and version.engine == "WEBJS"
        assert models.WAHAEnvironment.model_validate(await waha.version.a_get()) == version
        status = models.ServerStatusResponse.model_validate(await waha.server.a_status())
        assert status.uptime >= 0 and status.worker.id == "worker-7"
        assert status.startTimestamp <= 1000 * 4_102_444_800  # ms, not µs
        environment = await waha.server.a_environment()
        assert environment["WHATSAPP_HOOK_HMAC_KEY"] == "***"  # secrets never leave in clear
        assert environment["WHATSAPP_HOOK_URL"] == "https://user:***@hooks.example/in"
        assert "PATH" not in environment
        everything = await waha.server.a_environment(params={"all": "true"})
        assert "PATH" in everything and everything["WHATSAPP_HOOK_HMAC_KEY"] == "***"
        assert models.PingResponse.model_validate(await waha.ping.a_ping()).message == "pong"
        health = await waha.health.a_check()  # waha-py has no model for it: WAHA's terminus shape
        assert health["status"] == "ok" and set(health) == {"status", "info", "error", "details"}
        assert health["details"]["sessions"]["status"] == "up"
