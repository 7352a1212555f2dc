"""The whole loop of a WAHA bot, offline, for both engine shapes: a sandbox session (the real
WEBJS or NOWEB engine and translator) delivers an injected message to a real aiohttp bot on
localhost, which answers through waha-py's client with ``sendText``; the ``message.any`` echo
carries the id the send returned (``source: "api"``), ``message.ack`` SERVER, DEVICE, READ
follow; every envelope validates against waha-py's webhook models."""

from __future__ import annotations

import anyio
import pytest
from aiohttp import web
from api_service import API_KEY, build, serving
from waha import AsyncWahaClient, models
from waha_models import dump, webhook
from webhook_receiver import Receiver

import engines.noweb.plugin as noweb_plugin
import engines.webjs.plugin as webjs_plugin
from tests.engines.waha_webhooks import validate

ENGINES = [("webjs", webjs_plugin), ("noweb", noweb_plugin)]
ALICE = "22222222222@c.us"
ME = "12025550100@c.us"  # the sandbox's account when the config names none
EVENTS = ["message", "message.any", "message.ack", "session.status"]


def sent_id(engine: str, answer: dict) -> str:
    """WAHA's id of a sent message, from the send's answer (per engine, as WAHA returns it)."""
    if engine == "WEBJS":
        return answer["id"]["_serialized"]
    key = answer["key"]
    chat = key["remoteJid"].replace("@s.whatsapp.net", "@c.us")
    return f"true_{chat}_{key['id']}"


class Bot:
    """A WAHA bot: answers every incoming ``message`` with ``sendText`` through waha-py."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base
        self.answers: list[dict] = []
        self.received: list[dict] = []
        self.answered = anyio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Bot:
        app = web.Application()
        app.router.add_post("/bot", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/bot"
        self.client = AsyncWahaClient(self.api_base, api_key=API_KEY, timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        assert self.runner is not None
        await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        envelope = await request.json()
        self.received.append(envelope)
        if envelope["event"] == "message" and not envelope["payload"]["fromMe"]:
            incoming = envelope["payload"]
            reply = models.MessageTextRequest(session=envelope["session"], chatId=incoming["from"],
                                              text=f"echo: {incoming['body']}",
                                              reply_to=incoming["id"])
            self.answers.append(await self.client.chatting.a_send_text(dump(reply)))
            self.answered.set()
        return web.json_response({"ok": True})


@pytest.mark.parametrize(("plugin_name", "plugin"), ENGINES)
async def test_a_bot_answers_an_injected_message_offline(tmp_path, plugin_name, plugin) -> None:
    engine = plugin_name.upper()
    service = build(tmp_path, api={"api_key": API_KEY}, extra_plugins=[(plugin_name, plugin)])
    async with Receiver() as rx, serving(service, key=API_KEY) as api, Bot(api.base) as bot:
        config = {"source": "sandbox", "me_push_name": "Shop",
                  "sandbox": {"server_ack_ms": 20, "device_ack_ms": 60, "read_ack_ms": 120},
                  "webhooks": [webhook(bot.url, ["message"]),
                               webhook(rx.url("/all"), EVENTS)]}
        status, info = await api.post("/api/sessions", {"name": "shop", "engine": engine,
                                                         "config": config})
        assert status == 201, info
        info = await api.wait_status("shop", "WORKING")
        assert info["engine"] == {"engine": engine, "source": "sandbox"}

        status, injected = await api.post("/api/sandbox/shop/inbound",
                                          {"from": ALICE, "text": "hello", "pushName": "Alice"})
        assert status == 201, injected
        with anyio.fail_after(20):
            await bot.answered.wait()
        answer = bot.answers[0]
        reply_id = sent_id(engine, answer)
        assert reply_id.startswith(f"true_{ALICE}_")

        def events_of(name: str) -> list[dict]:
            return [r.json() for r in rx.at("/all") if r.json()["event"] == name]

        def acks() -> list[int]:
            return [e["payload"]["ack"] for e in events_of("message.ack")
                    if e["payload"]["id"] == reply_id]

        await rx.wait_until(lambda: acks() == [1, 2, 3], timeout=20)
        incoming = next(e for e in events_of("message") if e["payload"]["id"] == injected["id"])
        assert incoming["payload"]["body"] == "hello" and incoming["payload"]["fromMe"] is False
        assert incoming["payload"]["from"] == ALICE
        echo = next(e for e in events_of("message.any") if e["payload"]["id"] == reply_id)
        assert echo["payload"]["fromMe"] is True and echo["payload"]["source"] == "api"
        assert echo["payload"]["body"] == "echo: hello"
        assert echo["payload"]["replyTo"]["id"] == injected["id"].split("_")[2]
        # WAHA's NOWEB sets ``to`` in groups only; WEBJS always.
        assert echo["payload"].get("to") == (ALICE if engine == "WEBJS" else None)
        assert echo["payload"]["from"] == (ME if engine == "WEBJS" else ALICE)
        assert [e["payload"]["ackName"] for e in events_of("message.ack")
                if e["payload"]["id"] == reply_id] == ["SERVER", "DEVICE", "READ"]
        # The bot got the message, never its own echo (a webhook of "message" only).
        assert [e["event"] for e in bot.received] == ["message"]
        everything = [r.json() for r in rx.at("/all")] + bot.received
        for envelope in everything:
            assert envelope["engine"] == engine and envelope["session"] == "shop"
            validate(envelope)
        assert {e["event"] for e in everything} >= {"message", "message.any", "message.ack",
                                                   "session.status"}

        # What the sandbox emitted, as a recording of native records in the engine's shape.
        status, recording = await api.get("/api/sandbox/shop/recording")
        assert status == 200
        lines = recording.decode().splitlines()
        kinds = {"WEBJS": ("message", "message_create", "message_ack"),
                 "NOWEB": ("messages.upsert", "messages.update")}[engine]
        assert all(kind in recording.decode() for kind in kinds)
        assert len(lines) >= 4
