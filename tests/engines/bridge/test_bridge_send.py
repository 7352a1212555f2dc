"""The send path of a bridge, end to end against the scripted fake bridge (a real subprocess
answering as the real bridges do) with the real NOWEB translator: the library's answer comes
back, the ids the bridge says it sent make their events ``source: "api"``, a send without an
answer times out, a bridge dying mid-send answers ``gone`` and is restarted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from bridge_helpers import FAKE_BRIDGE, RecordingContext  # type: ignore[import-not-found]

from core.config import SessionConfig
from core.engine import CommandError
from engines.common.bridge import BridgeSession
from engines.common.bridge_settings import BridgeSettings
from engines.noweb.translator import NowebTranslator

WAIT = 20
ALICE_JID = "22222222222@s.whatsapp.net"
OPEN = {"record": {"type": "connection.update", "data": {"connection": "open"}}}


def sent_message(message_id: str, text: str) -> dict[str, Any]:
    """A WebMessageInfo of a message sent by this account, as the bridge writes it."""
    return {"key": {"remoteJid": ALICE_JID, "fromMe": True, "id": message_id},
            "message": {"extendedTextMessage": {"text": text}},
            "messageTimestamp": "1796122324", "status": "PENDING"}


def upsert(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "messages.upsert", "data": {"messages": [{**message, "status": 1}],
                                                "type": "append"}}


def session_for(tmp_path: Path, scenario: list[list[dict[str, Any]]], **settings: Any):
    script = tmp_path / "scenario.json"
    script.write_text(msgspec.json.encode(scenario).decode())
    config = SessionConfig(name="shop", engine="NOWEB", source="bridge", me_id="11111111111@c.us")
    session = BridgeSession(
        config, lambda c: NowebTranslator(c.name, c.me_id), tmp_path / "bridge",
        command=[sys.executable, str(FAKE_BRIDGE), str(script)],
        settings=BridgeSettings(**{"data_dir": str(tmp_path / "data"), "backoff_initial": 0.01,
                                   "backoff_max": 0.04, "stop_timeout": 5.0, "kill_timeout": 2.0,
                                   "heartbeat_seconds": 0, **settings}))
    return session, RecordingContext(config)


def working(ctx: RecordingContext) -> bool:
    return any(e.name == "session.status" and e.payload.status == "WORKING" for e in ctx.envelopes)


def message_any(ctx: RecordingContext, message_id: str) -> Any:
    return next((e.payload for e in ctx.envelopes if e.name == "message.any"
                 and e.payload.id == message_id), None)


async def test_a_send_gets_the_librarys_answer_and_its_echo_says_source_api(tmp_path) -> None:
    by_api = sent_message("3EB0AAAA0000000000000A", "hi from the API")
    by_phone = sent_message("3EB0BBBB0000000000000B", "hi from the phone")
    session, ctx = session_for(tmp_path, [[OPEN, {"answers": {"send-text": {
        "result": by_api, "sent": [f"true_22222222222@c.us_{by_api['key']['id']}"],
        "then": [upsert(by_api), upsert(by_phone)]}}}, {"wait": True}]])
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, ctx)
            await ctx.wait_until(working)
            answer = await session.request("send-text", {"chatId": "22222222222@c.us",
                                                         "text": "hi from the API"})
            await ctx.wait_until(lambda c: message_any(c, "true_22222222222@c.us_"
                                                       "3EB0BBBB0000000000000B") is not None)
            tg.cancel_scope.cancel()
    assert answer == by_api  # the WebMessageInfo, as the library gave it
    echo = message_any(ctx, "true_22222222222@c.us_3EB0AAAA0000000000000A")
    assert echo.fromMe is True and echo.source == "api" and echo.body == "hi from the API"
    other = message_any(ctx, "true_22222222222@c.us_3EB0BBBB0000000000000B")
    assert other.source == "app"  # sent from the phone: not through the API
    sent = [c for c in session_commands(tmp_path) if c["cmd"] == "send-text"]
    assert sent == [{"cmd": "send-text", "id": "1", "timeout_ms": 30000,
                     "chatId": "22222222222@c.us", "text": "hi from the API"}]


def session_commands(tmp_path: Path) -> list[dict[str, Any]]:
    path = BridgeSettings(data_dir=str(tmp_path / "data")).auth_dir("shop") / "commands.jsonl"
    return [msgspec.json.decode(line) for line in path.read_text().splitlines()]


async def test_a_send_without_an_answer_times_out_and_the_bridge_goes_on(tmp_path) -> None:
    session, ctx = session_for(tmp_path, [[OPEN, {"answers": {
        "send-text": {"never": True}, "presence": {"result": None}}}, {"wait": True}]])
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, ctx)
            await ctx.wait_until(working)
            began = anyio.current_time()
            with pytest.raises(CommandError) as caught:
                await session.request("send-text", {"chatId": "22222222222@c.us", "text": "x"},
                                      timeout=0.5)
            took = anyio.current_time() - began
            after = await session.request("presence", {"presence": "online"})
            tg.cancel_scope.cancel()
    assert caught.value.code == "timeout" and "'send-text'" in caught.value.message
    assert 0.5 <= took < 5
    assert after is None and session.runs == 1 and session.commands.in_flight == 0


@pytest.mark.parametrize("death", [{"crash": True}, {"exit": 1}])
async def test_a_bridge_dying_mid_send_answers_gone_and_comes_back(tmp_path, death) -> None:
    session, ctx = session_for(tmp_path, [[OPEN, {"answers": {"send-text": death}},
                                           {"wait": True}],
                                          [OPEN, {"answers": {"send-text": {
                                              "result": sent_message("3EB0C", "again")}}},
                                           {"wait": True}]])
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, ctx)
            await ctx.wait_until(working)
            with pytest.raises(CommandError) as caught:
                await session.request("send-text", {"chatId": "22222222222@c.us", "text": "x"})
            await session.wait_until(lambda s: s.runs == 2 and s.pid is not None)
            again = await session.request("send-text", {"chatId": "22222222222@c.us",
                                                        "text": "again"})
            tg.cancel_scope.cancel()
    assert caught.value.code == "gone" and "'send-text' was in flight" in caught.value.message
    assert again["key"]["id"] == "3EB0C"
