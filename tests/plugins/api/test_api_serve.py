"""``hookwire serve`` as a user runs it: a real subprocess with only ``WHATSAPP_API_KEY`` set (and
its own data dir, port and loopback host), driven with waha-py; stopped by the API and by
SIGTERM; sessions and webhooks created through waha-py survive a restart and deliver."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import signal
from pathlib import Path

import anyio
import httpx
from serve_process import SCRIPT, clean_environ, serving_process
from waha import AsyncWahaClient, models
from waha_models import dump, session_info, webhook, with_webhooks
from webhook_receiver import Receiver, free_port

KEY = "serve-test-key-0123456789"
DEMO = Path(__file__).resolve().parents[3] / "config" / "recordings" / "webjs-demo.jsonl"
MESSAGES_IN_DEMO = 9


def environ(tmp_path: Path, port: int, **more: str) -> dict[str, str]:
    return clean_environ(WHATSAPP_API_KEY=KEY, HOOKWIRE_DATA_DIR=str(tmp_path / "data"),
                         WHATSAPP_API_PORT=str(port), WHATSAPP_API_HOSTNAME="127.0.0.1", **more)


async def test_serve_with_only_an_api_key_answers_and_stops(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serving_process(environ(tmp_path, port), tmp_path) as serve:
        listening = await serve.wait_for_line("API listening")
        assert (listening["url"], listening["auth"]) == (base, "X-Api-Key")
        assert listening["docs"] == f"{base}/docs"
        waha = AsyncWahaClient(base, api_key=KEY)
        try:
            assert models.PingResponse.model_validate(await waha.ping.a_ping()).message == "pong"
            version = models.WAHAEnvironment.model_validate(await waha.server.a_get())
            assert version.engine == "WEBJS" and version.worker.id == ""
            models.ServerStatusResponse.model_validate(await waha.server.a_status())
            assert await waha.sessions.a_list(params={"all": True}) == []  # no demo sessions
            assert (await waha.health.a_check())["status"] == "ok"
            async with httpx.AsyncClient(base_url=base) as plain:  # no key
                assert (await plain.get("/api/sessions")).status_code == 401
                assert (await plain.get("/docs")).status_code == 200
            stopping = await waha.server.a_stop(dump(models.StopRequest()))
            assert models.StopResponse.model_validate(stopping).stopping is True
        finally:
            await waha.close()
        assert await serve.wait_exit() == 0
        assert serve.find("stop requested over the API")
        assert serve.find("service stopped")
        assert not [line for line in serve.raw if "Traceback" in line]

    async with serving_process(environ(tmp_path, port), tmp_path, module=True) as serve:
        await serve.wait_for_line("API listening")
        serve.signal(signal.SIGTERM)
        assert await serve.wait_exit() == 0
        assert serve.find("signal received, stopping", signal="SIGTERM")


async def test_without_a_key_serve_listens_on_loopback_and_says_how_to_set_one(tmp_path):
    port = free_port()
    env = clean_environ(HOOKWIRE_DATA_DIR=str(tmp_path / "data"), PORT=str(port))
    async with serving_process(env, tmp_path) as serve:
        warning = await serve.wait_for_line("API listening without an API key: loopback only; set "
                                            "WHATSAPP_API_KEY (or api.api_key) to require "
                                            "X-Api-Key and listen on every interface")
        assert warning["loopback"] is True and warning["url"] == f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
            assert (await plain.get("/api/sessions")).json() == []
        serve.signal(signal.SIGINT)
        assert await serve.wait_exit() == 0


async def test_a_bad_waha_variable_stops_serve_with_exit_2(tmp_path):
    env = environ(tmp_path, free_port(), WHATSAPP_DEFAULT_ENGINE="GOWS")
    async with serving_process(env, tmp_path) as serve:
        assert await serve.wait_exit() == 2
    assert any("unknown engine 'GOWS' (known: NOWEB, WEBJS)" in line for line in serve.raw)
    assert not [line for line in serve.raw if "Traceback" in line]


async def test_sessions_and_webhooks_created_with_waha_py_survive_a_restart(tmp_path):
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copy(DEMO, recordings / "demo.jsonl")
    config = tmp_path / "hookwire.toml"
    config.write_text('[api]\nreplay_dir = "recordings"\n'
                      '[delivery]\nallow_networks = ["127.0.0.0/8"]\n')
    port = free_port()
    env = environ(tmp_path, port, HOOKWIRE_CONFIG=str(config))
    base = f"http://127.0.0.1:{port}"
    hmac_key = "survives-a-restart"
    async with Receiver() as rx:
        async with serving_process(env, tmp_path) as serve:
            await serve.wait_for_line("API listening")
            waha = AsyncWahaClient(base, api_key=KEY)
            try:
                for name, start in (("idle", False), ("auto", True)):
                    hook = webhook(rx.url(f"/{name}"), ["message"],
                                   hmac=models.HmacConfiguration(key=hmac_key))
                    request = with_webhooks(dump(models.SessionCreateRequest(
                        name=name, start=start, config=models.SessionConfig(
                            metadata={"session": name}))), [hook])
                    request["config"] |= {"source": "replay", "replay": "demo.jsonl"}
                    session_info(await waha.sessions.a_create(request))
                await rx.wait_delivered(MESSAGES_IN_DEMO, "/auto")
            finally:
                await waha.close()
            serve.signal(signal.SIGTERM)
            assert await serve.wait_exit() == 0
        assert rx.at("/idle") == []

        async with serving_process(env, tmp_path, module=True) as serve:
            await serve.wait_for_line("API listening")
            await serve.wait_for_line("session started at boot", session="auto")
            assert not serve.find("session started at boot", session="idle")
            waha = AsyncWahaClient(base, api_key=KEY)
            try:
                listed = await waha.sessions.a_list(params={"all": True})
                assert sorted(session_info(s).name for s in listed) == ["auto", "idle"]
                idle = session_info(await waha.sessions.a_get("idle"))
                assert idle.config.metadata == {"session": "idle"}
                assert idle.config.webhooks[0].hmac.key == "***"
                await waha.sessions.a_start("idle")
                received = await rx.wait_delivered(MESSAGES_IN_DEMO, "/idle")
                await waha.server.a_stop(dump(models.StopRequest(force=True)))
            finally:
                await waha.close()
            assert await serve.wait_exit() == 0
    for request in received:
        assert request.json()["session"] == "idle" and request.json()["metadata"] == {"session": "idle"}
        expected = hmac.new(hmac_key.encode(), request.body, hashlib.sha512).hexdigest()
        assert request.headers["X-Webhook-Hmac"] == expected


async def test_every_command_works_as_hookwire_command(tmp_path):
    env = clean_environ(HOOKWIRE_DATA_DIR=str(tmp_path / "data"))
    recording = DEMO.parent / "noweb-demo.jsonl"
    for args, expected in ((["--help"], "usage: hookwire"), (["serve", "--help"], "usage: hookwire serve"),
                           (["translate", "--engine", "NOWEB", str(recording)], '"envelopes"')):
        result = await anyio.run_process([str(SCRIPT), *args], env=env, cwd=str(tmp_path), check=False)
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout.decode(), args
