"""Every sending route, driven by waha-py (its request models, dumped as it sends them) against
sandbox sessions of both engines, each answer checked for WAHA's shape per engine and each
event it makes validated against waha-py's webhook models; media by base64 and by URL (the
SSRF guard, the size limit); a session that is not WORKING, or does not run; bad bodies (422
with the path); a live session through the scripted fake bridge (the library's answer, a
bridge dying mid-send)."""

from __future__ import annotations

import base64

import pytest
from aiohttp import web
from api_service import API_KEY, build, serving
from live_bridge import LiveBridgePlugin
from waha import AsyncWahaClient, models
from waha_models import dump, webhook
from webhook_receiver import Receiver

import engines.noweb.plugin as noweb_plugin
import engines.webjs.plugin as webjs_plugin
from tests.engines.waha_webhooks import validate

ALICE = "22222222222@c.us"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Jane Doe\nTEL;type=CELL;waid=911111111111:+91 11111 11111\nEND:VCARD"


def waha_id(engine: str, answer: dict) -> str:
    if engine == "WEBJS":
        return answer["id"]["_serialized"]
    key = answer["key"]
    return f"true_{key['remoteJid'].replace('@s.whatsapp.net', '@c.us')}_{key['id']}"


def check_sent(engine: str, answer: dict) -> str:
    """WAHA's answer of a send, per engine: whatsapp-web.js's Message, Baileys' WebMessageInfo."""
    if engine == "WEBJS":
        assert answer["fromMe"] is True and answer["to"] == ALICE and "_data" in answer
        assert answer["id"]["_serialized"].startswith(f"true_{ALICE}_")
    else:
        assert answer["key"]["fromMe"] is True
        assert answer["key"]["remoteJid"] == "22222222222@s.whatsapp.net"
        assert answer["status"] == "PENDING" and isinstance(answer["messageTimestamp"], str)
    return waha_id(engine, answer)


class Files:
    """A file server on loopback for media sent by URL."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def __aenter__(self) -> Files:
        async def cat(request: web.Request) -> web.Response:
            return web.Response(body=base64.b64decode(PNG), content_type="image/png")

        async def huge(request: web.Request) -> web.Response:
            return web.Response(body=b"x" * 4096, content_type="application/pdf")

        app = web.Application()
        app.router.add_get("/cat.png", cat)
        app.router.add_get("/huge.bin", huge)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.mark.parametrize(("plugin_name", "plugin"), [("webjs", webjs_plugin),
                                                     ("noweb", noweb_plugin)])
async def test_every_sending_route_through_waha_py(tmp_path, plugin_name, plugin) -> None:
    engine = plugin_name.upper()
    service = build(tmp_path, api={"api_key": API_KEY, "media_max_bytes": 2048},
                    extra_plugins=[(plugin_name, plugin)])
    async with Receiver() as rx, Files() as files, serving(service, key=API_KEY) as api:
        waha = AsyncWahaClient(api.base, api_key=API_KEY, timeout=30)
        try:
            config = {"source": "sandbox", "sandbox": {"read_ack_ms": -1},
                      "webhooks": [webhook(rx.url("/all"), ["*"])]}
            assert (await api.post("/api/sessions", {"name": "s", "engine": engine,
                                                      "config": config}))[0] == 201
            await api.wait_status("s", "WORKING")
            status, incoming = await api.post("/api/sandbox/s/inbound", {"from": ALICE,
                                                                          "text": "hi"})
            assert status == 201
            chat = dict(session="s", chatId=ALICE)

            text = await waha.chatting.a_send_text(dump(models.MessageTextRequest(
                **chat, text="hello", reply_to=incoming["id"], mentions=[ALICE])))
            text_id = check_sent(engine, text)
            image = await waha.chatting.a_send_image(dump(models.MessageImageRequest(
                **chat, caption="a cat", file=models.BinaryFile(mimetype="image/png", data=PNG,
                                                                 filename="cat.png"))))
            check_sent(engine, image)
            by_url = await waha.chatting.a_send_file(dump(models.MessageFileRequest(
                **chat, file=models.RemoteFile(mimetype="image/png", url=files.base + "/cat.png"))))
            check_sent(engine, by_url)
            voice = dump(models.MessageVoiceRequest(**chat, convert=False, file=models.VoiceBinaryFile(
                mimetype={}, filename={}, data=PNG)))
            voice["file"] = {"mimetype": "audio/ogg; codecs=opus", "data": PNG}  # waha-py: objects
            check_sent(engine, await waha.chatting.a_send_voice(voice))
            video = dump(models.MessageVideoRequest(**chat, convert=False, file=models.VideoBinaryFile(
                mimetype={}, filename={}, data=PNG)))
            video["file"] = {"mimetype": "video/mp4", "data": PNG}  # waha-py: objects (wrong)
            check_sent(engine, await waha.chatting.a_send_video(video))
            check_sent(engine, await waha.chatting.a_send_location(dump(models.MessageLocationRequest(
                **chat, latitude=38.89, longitude=-77.09, title="Our office"))))
            check_sent(engine, await waha.chatting.a_send_contact_vcard(dump(
                models.MessageContactVcardRequest(**chat, contacts=[models.VCardContact(vcard=VCARD)]))))
            poll = dump(models.MessagePollRequest(**chat, poll=models.MessagePoll(
                name="Lunch?", options=["Pizza", "Pasta"], multipleAnswers={})))
            poll["poll"]["multipleAnswers"] = False  # waha-py types it as an object; WAHA: bool
            check_sent(engine, await waha.chatting.a_send_poll(poll))

            forwarded = await waha.chatting.a_forward_message(dump(models.MessageForwardRequest(
                session="s", chatId="33333333333@c.us", messageId=incoming["id"])))
            if engine == "WEBJS":
                assert forwarded == {"sent": True}
            else:
                assert forwarded["key"]["remoteJid"] == "33333333333@s.whatsapp.net"
            reaction = await waha.chatting.a_set_reaction(dump(models.MessageReactionRequest(
                session="s", messageId=incoming["id"], reaction="👍")))
            assert reaction == "" if engine == "WEBJS" else reaction["message"]["reactionMessage"]["text"] == "👍"
            assert await waha.chatting.a_send_seen(dump(models.SendSeenRequest(
                **chat, messageIds=[incoming["id"]]))) == ""
            assert await waha.chatting.a_start_typing(dump(models.ChatRequest(**chat))) == {"result": True}
            assert await waha.chatting.a_stop_typing(dump(models.ChatRequest(**chat))) == {"result": True}
            assert await waha.presence.a_set_presence("s", dump(models.WAHASessionPresence(
                presence=models.Presence.online))) == ""
            edited = await waha.chats.a_edit_message("s", ALICE, text_id, dump(
                models.EditMessageRequest(text="hello again")))
            assert (edited["body"] == "hello again" if engine == "WEBJS"
                    else edited["message"]["protocolMessage"]["editedMessage"]["conversation"] == "hello again")
            deleted = await waha.chats.a_delete_message("s", ALICE, text_id)
            assert deleted == "" if engine == "WEBJS" else deleted["message"]["protocolMessage"]["type"] == 0

            # Media by URL: the SSRF guard (loopback is not allowed for this client's URLs
            # unless the operator allows it: the test config allows 127.0.0.0/8 only), the
            # size limit, a bad body.
            status, error = await api.post("/api/sendFile", {**chat, "file": {
                "mimetype": "application/pdf", "url": "http://[::1]:9/x.pdf"}})
            assert status == 422 and error["error"] == "file_refused" and error["path"] == "$.file.url"
            status, error = await api.post("/api/sendFile", {**chat, "file": {
                "mimetype": "application/pdf", "url": files.base + "/huge.bin"}})
            assert status == 422 and error["error"] == "file_too_large", error
            status, error = await api.post("/api/sendImage", {**chat, "file": {"mimetype": "image/png"}})
            assert status == 422 and error["path"] == "$.file"
            status, error = await api.post("/api/sendText", {**chat, "txt": "typo"})
            assert status == 422 and error["path"] == "$.txt"
            status, error = await api.post("/api/sendText", {"session": "s", "chatId": "not a chat",
                                                             "text": "x"})
            assert status == 422 and error["path"] == "$.chatId"
            status, error = await api.post("/api/s/presence", {"presence": "typing"})
            assert status == 400 and "requires 'chatId'" in error["detail"]
            status, error = await api.post("/api/sendText", {"session": "nope", "chatId": ALICE,
                                                             "text": "x"})
            assert status == 404

            def events() -> list[dict]:
                return [r.json() for r in rx.at("/all")]

            await rx.wait_until(lambda: any(e["event"] == "message.revoked" for e in events()))
            names = {e["event"] for e in events()}
            assert {"message", "message.any", "message.ack", "message.reaction", "message.edited",
                    "message.revoked"} <= names
            for envelope in events():
                validate(envelope)
            # text, image, file, voice, video, location, contact, poll, forward
            ours = [e for e in events() if e["event"] == "message.any" and e["payload"]["fromMe"]]
            assert len(ours) == 9 and all(e["payload"]["source"] == "api" for e in ours)
            assert any(e["payload"]["hasMedia"] and e["payload"]["media"]["mimetype"] == "image/png"
                       for e in ours)
        finally:
            await waha.close()


async def test_a_session_not_working_gets_wahas_422(tmp_path) -> None:
    service = build(tmp_path, api={"api_key": API_KEY}, extra_plugins=[("webjs", webjs_plugin)])
    async with serving(service, key=API_KEY) as api:
        # A replay paced as recorded, its second record ten minutes on: it stays STARTING.
        service.recording("starting.jsonl", [
            {"type": "change_state", "data": "OPENING", "ts": 1_000},
            {"type": "change_state", "data": "PAIRING", "ts": 601_000}])
        body = {"name": "r", "engine": "WEBJS", "config": {"source": "replay", "pace": "recorded",
                                                            "replay": "starting.jsonl"}}
        assert (await api.post("/api/sessions", body))[0] == 201
        await api.wait_status("r", "STARTING")
        status, error = await api.post("/api/sendText", {"session": "r", "chatId": ALICE,
                                                         "text": "x"})
        assert status == 422 and error["detail"].startswith("Session status is not as expected")


async def test_a_live_session_sends_through_its_bridge(tmp_path) -> None:
    answer = {"key": {"remoteJid": "22222222222@s.whatsapp.net", "fromMe": True, "id": "3EB0F"},
              "message": {"extendedTextMessage": {"text": "hi"}}, "messageTimestamp": "1796122324",
              "status": "PENDING"}
    run = [{"record": {"type": "status", "data": "WORKING"}},
           {"answers": {"send-text": {"result": answer, "sent": ["true_22222222222@c.us_3EB0F"]},
                        "send-poll": {"error": {"code": "unsupported",
                                                "message": "no polls here"}},
                        "react": {"crash": True}}},
           {"wait": True}]
    plugin = LiveBridgePlugin([run], tmp_path / "bridge", engine="NOWEB")
    service = build(tmp_path, api={"api_key": API_KEY}, extra_plugins=[("live", plugin)])
    async with serving(service, key=API_KEY) as api:
        assert (await api.post("/api/sessions", {"name": "live", "engine": "NOWEB"}))[0] == 201
        await api.wait_status("live", "WORKING")
        status, sent = await api.post("/api/sendText", {"session": "live", "chatId": "22222222222",
                                                        "text": "hi", "reply_to": None})
        assert status == 201 and sent == answer
        command = next(c for c in plugin.commands("live") if c["cmd"] == "send-text")
        assert command["chatId"] == "22222222222@c.us" and command["text"] == "hi"
        assert "replyTo" not in command  # unset fields are not sent
        status, error = await api.post("/api/sendPoll", {"session": "live", "chatId": ALICE,
                                                         "poll": {"name": "Q", "options": ["a", "b"]}})
        assert status == 501 and error["detail"] == "NOWEB: no polls here"
        status, error = await api.put("/api/reaction", {"session": "live", "reaction": "x",
                                                        "messageId": f"false_{ALICE}_AAAA"})
        assert status == 503 and error["error"] == "gone"
