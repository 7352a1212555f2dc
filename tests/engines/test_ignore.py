"""WAHA's ``config.ignore`` at the engine edge: the events of ignored chats are not emitted, on
both engines, for replayed and live sessions alike; ``session.status`` never is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from core.config import SessionConfig, SessionIgnore
from core.engine import Emission
from core.payloads import MessagePayload, PresencePayload, ReactionPayload, RevokedPayload
from engines.common.ignore import CHAT_EVENTS, IgnoreFilter, chat_of
from tests.engines.bridge.bridge_helpers import RecordingContext

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPORA = {
    "WEBJS": [REPO_ROOT / "config/recordings/webjs-demo.jsonl"],
    "NOWEB": [REPO_ROOT / "config/recordings/noweb-demo.jsonl",
              Path(__file__).parent / "corpus/noweb-extra.jsonl"],
}
GROUP = "123456789-987654321@g.us"
KINDS = {"status": "status@broadcast", "groups": "@g.us", "channels": "@newsletter",
         "broadcast": "@broadcast"}


def kind_of(chat: str | None) -> str | None:
    if not chat:
        return None
    if chat == "status@broadcast":
        return "status"
    for kind in ("groups", "channels", "broadcast"):
        if chat.endswith(KINDS[kind]):
            return kind
    return "dm"


def test_the_chat_of_each_payload_kind() -> None:
    assert chat_of(MessagePayload(id=f"false_{GROUP}_ABC_22222222222@c.us")) == GROUP
    assert chat_of(MessagePayload(id="true_status@broadcast_X")) == "status@broadcast"
    assert chat_of(MessagePayload(from_="120363@newsletter")) == "120363@newsletter"
    assert chat_of(ReactionPayload(id=f"false_{GROUP}_R_1@c.us")) == GROUP
    assert chat_of(RevokedPayload(after=MessagePayload(id=f"false_{GROUP}_R"))) == GROUP
    assert chat_of(PresencePayload(id=GROUP)) == GROUP
    assert chat_of({"vote": {}, "poll": {"id": f"true_{GROUP}_P"}}) == GROUP
    assert chat_of({"id": GROUP, "archived": True}) == GROUP
    assert chat_of({"name": "x"}) is None and chat_of(None) is None


@pytest.mark.parametrize("chat, ignored_by", [
    ("status@broadcast", "status"), ("1234567@broadcast", "broadcast"), (GROUP, "groups"),
    ("120363000000000000@newsletter", "channels"), ("22222222222@c.us", None),
    ("44444444444@lid", None)])
def test_each_switch_ignores_its_kind_of_chat_only(chat: str, ignored_by: str | None) -> None:
    for switch in ("status", "groups", "channels", "broadcast"):
        flt = IgnoreFilter(SessionIgnore(**{switch: True}))
        message = Emission("message", MessagePayload(id=f"false_{chat}_ID"))
        assert flt.drops(message) is (switch == ignored_by), (chat, switch)
        # session-wide events are never dropped, whatever their payload names
        assert not flt.drops(Emission("session.status", {"id": chat}))
        assert not flt.drops(Emission("engine.event", {"id": chat}))
    assert not IgnoreFilter(SessionIgnore()).drops(Emission("message", MessagePayload(id=f"false_{chat}_ID")))


async def replay(engine: str, source: Path, ignore: dict[str, bool]) -> list[Any]:
    if engine == "NOWEB":
        from engines.noweb.plugin import create_session
    else:
        from engines.webjs.plugin import create_session
    config = msgspec.convert({"name": "s", "engine": engine, "source": "replay",
                              "replay": str(source), "me_id": "11111111111@c.us",
                              "ignore": ignore}, SessionConfig)
    ctx = RecordingContext(config)
    with anyio.fail_after(60):
        await create_session(config).run(ctx, task_status=anyio.TASK_STATUS_IGNORED)
    return ctx.envelopes


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
async def test_replayed_sessions_drop_the_events_of_ignored_chats(engine: str) -> None:
    ignore = {"status": True, "groups": True, "channels": True, "broadcast": False}
    for source in CORPORA[engine]:
        everything = await replay(engine, source, {})
        kept = await replay(engine, source, ignore)

        def key(envelope: Any) -> tuple[str, Any]:
            if envelope.name == "session.status":  # its history carries wall-clock times
                return envelope.name, envelope.payload.status
            payload = msgspec.to_builtins(envelope.payload)
            if envelope.name.startswith("group.") and isinstance(payload, dict):
                payload.pop("timestamp", None)  # NOWEB stamps group events with the wall clock
            return envelope.name, msgspec.json.encode(payload)

        dropped = [e for e in everything if key(e) not in {key(k) for k in kept}]
        assert dropped, "the corpus has events of ignored chats"
        for envelope in dropped:
            assert envelope.name in CHAT_EVENTS
            assert ignore.get(kind_of(chat_of(envelope.payload)) or "", False), envelope.name
        for envelope in kept:
            if envelope.name in CHAT_EVENTS:
                assert not ignore.get(kind_of(chat_of(envelope.payload)) or "", False)
        # what is not bound to an ignored chat is all there, in order
        assert [key(e) for e in everything if e not in dropped] == [key(e) for e in kept]
        assert [e.name for e in kept].count("session.status") == [
            e.name for e in everything].count("session.status")
        assert {kind_of(chat_of(e.payload)) for e in dropped} <= {"groups", "status", "channels"}
        assert "groups" in {kind_of(chat_of(e.payload)) for e in dropped}
