"""The sandbox session on its own (both engines): a seed recording is played at start and its
messages can be answered, every native record it makes is appended to ``sandbox.record``,
and that file replays through the engine's replay source into the same events; bad sandbox
settings are refused naming the key."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridge"))
from bridge_helpers import RecordingContext  # type: ignore[import-not-found]

from core.config import SessionConfig, SessionSandbox
from core.engine import CommandError, SandboxTarget
from engines.noweb.plugin import create_session as noweb_session
from engines.webjs.plugin import create_session as webjs_session

RECORDINGS = Path(__file__).resolve().parents[3] / "config" / "recordings"
SEEDED = {"WEBJS": ("webjs-demo.jsonl", "false_22222222222@c.us_AC3F2B9E41D0C8A7F5E6B1D2C3A4F5E6"),
          "NOWEB": ("noweb-demo.jsonl", "false_22222222222@c.us_A5F0C3B1D2E4968712AB34CD56EF7890")}


def _names(ctx: RecordingContext) -> list[tuple[str, object]]:
    return [(e.name, getattr(e.payload, "id", None)) for e in ctx.envelopes
            if e.name in ("message", "message.any", "message.ack")]


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
async def test_a_seeded_sandbox_answers_a_seeded_message_and_its_record_replays(tmp_path, engine) -> None:
    seed, seeded_id = SEEDED[engine]
    out = tmp_path / "out.jsonl"
    make = webjs_session if engine == "WEBJS" else noweb_session
    config = SessionConfig(name="sb", engine=engine, source="sandbox", me_id="11111111111@c.us",
                           sandbox=SessionSandbox(seed=str(RECORDINGS / seed), record=str(out),
                                                  server_ack_ms=0, device_ack_ms=0, read_ack_ms=0))
    session = make(config)
    assert isinstance(session, SandboxTarget)
    ctx = RecordingContext(config)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, ctx)
            answer = await session.request("send-text", {"chatId": "22222222222@c.us",
                                                         "text": "see you", "replyTo": seeded_id})
            sent = (answer["id"]["_serialized"] if engine == "WEBJS"
                    else f"true_22222222222@c.us_{answer['key']['id']}")
            await ctx.wait_until(lambda c: any(e.name == "message.ack" and e.payload.id == sent
                                               and e.payload.ack == 3 for e in c.envelopes))
            with pytest.raises(CommandError) as unknown:
                await session.request("react", {"messageId": "false_1@c.us_NOPE", "reaction": "x"})
            tg.cancel_scope.cancel()
    assert unknown.value.code == "failed" and "not found" in unknown.value.message
    reply = next(e.payload for e in ctx.envelopes if e.name == "message.any"
                 and e.payload.fromMe and getattr(e.payload, "body", None) == "see you")
    assert reply.replyTo.id == seeded_id.split("_")[2] and reply.source == "api"
    assert answer is not None
    # The record file holds the seed and everything after it; replayed, the same events.
    lines = out.read_bytes().splitlines()
    assert len(lines) == session.records_made and session.recording().splitlines() == lines
    replay = make(SessionConfig(name="sb", engine=engine, source="replay", replay=str(out),
                                me_id="11111111111@c.us"))
    again = RecordingContext(replay.config)
    with anyio.fail_after(20):
        await replay.run(again, task_status=anyio.TASK_STATUS_IGNORED)
    assert [n for n, _ in _names(again)] == [n for n, _ in _names(ctx)]


@pytest.mark.parametrize(("field", "value"), [("server_ack_ms", -5), ("read_ack_ms", 700_000),
                                              ("keep_records", -1)])
def test_bad_sandbox_settings_are_refused_naming_the_key(field, value) -> None:
    with pytest.raises(msgspec.ValidationError, match=f"sandbox.{field}"):
        msgspec.convert({"name": "sb", "source": "sandbox", "sandbox": {field: value}}, SessionConfig)


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
async def test_commands_the_sandbox_has_not_are_unsupported_and_presence_is_checked(engine) -> None:
    make = webjs_session if engine == "WEBJS" else noweb_session
    config = SessionConfig(name="sb", engine=engine, source="sandbox")
    session = make(config)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, RecordingContext(config))
            with pytest.raises(CommandError) as unknown:
                await session.request("send-hologram", {"chatId": "22222222222@c.us"})
            with pytest.raises(CommandError) as presence:
                await session.request("presence", {"presence": "dancing"})
            assert await session.request("presence", {"presence": "online"}) is None
            assert await session.request("send-seen", {"chatId": "22222222222@c.us"}) is None
            tg.cancel_scope.cancel()
    assert unknown.value.code == "unsupported" and engine in unknown.value.message
    assert presence.value.code == "invalid" and "dancing" in presence.value.message
