"""Commands to a bridge and their answers (``BridgeSession.request``), against the scripted fake
bridge: a real subprocess that answers on stdout as the real bridges do."""

from __future__ import annotations

import json

import anyio
import pytest
from bridge_helpers import count, status, working  # type: ignore[import-not-found]
from structlog.testing import capture_logs

from core.engine import CommandError, CommandTarget, HealthReporter

WAIT = 20  # seconds: the bound of every wait in these tests


def is_working(ctx) -> bool:
    return any(e.name == "session.status" and e.payload.status == "WORKING" for e in ctx.envelopes)


async def test_a_command_gets_the_bridges_answer(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"answers": {
        "pairing-code": {"result": {"code": "ABCD-EFGH"}},
        "me": {"result": {"id": "11111111111@c.us", "pushName": "Tester"}},
    }}, {"wait": True}]])
    session = bridge.session
    assert isinstance(session, CommandTarget) and isinstance(session, HealthReporter)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(is_working)
            code = await session.request("pairing-code", {"phone": "12345678901"})
            me = await session.request("me", {}, timeout=5)
            tg.cancel_scope.cancel()
    assert code == {"code": "ABCD-EFGH"}
    assert me == {"id": "11111111111@c.us", "pushName": "Tester"}
    sent = bridge.commands()
    assert sent[0] == {"cmd": "pairing-code", "id": "1", "timeout_ms": 30000, "phone": "12345678901"}
    assert sent[1] == {"cmd": "me", "id": "2", "timeout_ms": 5000}
    assert session.commands.in_flight == 0
    assert "engine.event" not in bridge.ctx.names  # protocol records are never translated


async def test_the_librarys_refusal_comes_back_with_its_reason(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"answers": {
        "me": {"error": {"code": "failed", "message": "Connection Closed"}},
        "odd": {"error": {"code": "no-such-code", "message": "strange"}},
    }}, {"wait": True}]])
    session = bridge.session
    errors: dict[str, CommandError] = {}
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(is_working)
            for name in ("me", "odd", "dance"):
                with pytest.raises(CommandError) as caught:
                    await session.request(name, {})
                errors[name] = caught.value
            tg.cancel_scope.cancel()
    assert (errors["me"].code, errors["me"].message) == ("failed", "Connection Closed")
    assert (errors["odd"].code, errors["odd"].message) == ("failed", "strange")
    assert (errors["dance"].code, errors["dance"].message) == ("unsupported", "unknown command 'dance'")


async def test_a_command_without_an_answer_times_out_and_a_late_answer_is_dropped(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"answers": {
        "never": {"never": True}, "late": {"delay": 1.0, "result": 1}, "quick": {"result": 2},
    }}, {"wait": True}]])
    session = bridge.session
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, bridge.ctx)
                await bridge.ctx.wait_until(is_working)
                with pytest.raises(CommandError) as never:
                    await session.request("never", {}, timeout=0.3)
                with pytest.raises(CommandError) as late:
                    await session.request("late", {}, timeout=0.2)
                await session.wait_until(lambda s: s.commands.late_answers == 1)
                quick = await session.request("quick", {})  # the bridge is fine all along
                tg.cancel_scope.cancel()
    assert never.value.code == late.value.code == "timeout"
    assert "no answer to 'never' from the bridge in 0.3 s" in never.value.message
    assert quick == 2 and session.runs == 1
    dropped = next(e for e in logs if e["event"].startswith("bridge answered a command no longer"))
    assert dropped["request_id"] == "2" and dropped["log_level"] == "warning"


@pytest.mark.parametrize("death", [{"crash": True}, {"exit": 75}])
async def test_a_bridge_dying_mid_command_answers_gone_and_is_restarted(fake_bridge, death) -> None:
    bridge = fake_bridge([[*working(), {"answers": {"die": death}}, {"wait": True}],
                          [*working(), count("back"), {"wait": True}]])
    session = bridge.session
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(is_working)
            with pytest.raises(CommandError) as gone:
                await session.request("die", {}, timeout=10)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            tg.cancel_scope.cancel()
    assert gone.value.code == "gone"
    assert "the bridge exited (status" in gone.value.message and "'die' was in flight" in gone.value.message
    assert session.runs == 2 and session.restarts == 1


async def test_too_many_commands_in_flight_are_refused(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"answers": {"slow": {"never": True}}}, {"wait": True}]],
                         max_in_flight=2)
    session = bridge.session
    failures: list[str] = []

    async def slow() -> None:
        try:
            await session.request("slow", {}, timeout=WAIT)
        except CommandError as exc:
            failures.append(exc.code)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(is_working)
            tg.start_soon(slow)
            tg.start_soon(slow)
            await session.wait_until(lambda s: s.commands.in_flight == 2)
            with pytest.raises(CommandError) as busy:
                await session.request("slow", {})
            # the bridge exits (cancelled): the two in flight end as ``gone``
            tg.cancel_scope.cancel()
    assert busy.value.code == "busy"
    assert "2 commands are in flight already" in busy.value.message
    assert session.commands.in_flight == 0
    assert [c["cmd"] for c in bridge.commands()].count("slow") <= 2  # the third was never sent


async def test_commands_need_a_working_session_but_login_commands_do_not(fake_bridge) -> None:
    bridge = fake_bridge([[status("SCAN_QR_CODE"), {"heartbeat": "SCAN_QR_CODE"},
                           {"answers": {"pairing-code": {"result": {"code": "WXYZ-1234"}}}},
                           {"wait": True}]], heartbeat_seconds=5)
    session = bridge.session
    with pytest.raises(CommandError) as before_start:
        await session.request("pairing-code", {"phone": "1"})
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await session.wait_until(lambda s: s.bridge_status == "SCAN_QR_CODE")
            with pytest.raises(CommandError) as not_working:
                await session.request("me", {})
            code = await session.request("pairing-code", {"phone": "12345678901"})
            tg.cancel_scope.cancel()
    assert before_start.value.code == "not_working"
    assert "no bridge is running" in before_start.value.message
    assert not_working.value.code == "not_working"
    assert not_working.value.message == ("session 'fake' is SCAN_QR_CODE, not WORKING: "
                                         "'me' needs a working session")
    assert code == {"code": "WXYZ-1234"}
    assert [c["cmd"] for c in bridge.commands()] == ["pairing-code", "stop"]  # `me` never sent


async def test_bad_arguments_are_refused_before_reaching_the_bridge(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"wait": True}]])
    session = bridge.session
    codes = []
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(is_working)
            for args, timeout in (({"id": "x"}, None), ({"blob": object()}, None), ({}, 0), ({}, 1e9)):
                with pytest.raises(CommandError) as caught:
                    await session.request("me", args, timeout=timeout)
                codes.append(caught.value.code)
            tg.cancel_scope.cancel()
    assert codes == ["invalid"] * 4
    assert [c["cmd"] for c in bridge.commands()] == ["stop"]


@pytest.mark.parametrize("command, message", [("stop", "bridge stopped on request; session ended"),
                                              ("logout", "logged out on request; session ended")])
async def test_stop_and_logout_answer_then_end_the_session(fake_bridge, command, message) -> None:
    bridge = fake_bridge([[*working(), {"wait": True}], [count("never")]])
    session = bridge.session
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, bridge.ctx)
                await bridge.ctx.wait_until(is_working)
                assert await session.request(command, {}) is None
            # the task group ended by itself: run() returned
    assert session.runs == 1 and session.exit_codes == [0 if command == "stop" else 3]
    assert any(e["event"] == message and e["log_level"] == "info" for e in logs)
    assert not [e for e in logs if e["log_level"] == "error"]  # asked for: not a failure
    assert not session.health().failed
    assert [e.payload.status for e in bridge.ctx.envelopes if e.name == "session.status"] == [
        "STARTING", "WORKING"]
    with pytest.raises(CommandError) as after:
        await session.request("stop", {})
    assert after.value.code == "not_working"


async def test_protocol_records_of_the_wrong_shape_are_bad_records(fake_bridge) -> None:
    bridge = fake_bridge([[
        {"record": {"type": "hookwire.result", "data": {"ok": True}}},
        {"record": {"type": "hookwire.teleport", "data": {}}},
        {"record": {"type": "hookwire.me", "data": {"id": "11111111111@c.us", "pushName": "Me"}}},
        count("after"), {"wait": True}]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
                tg.cancel_scope.cancel()
    bad = [e for e in logs if e["event"] == "bad native record skipped"]
    assert [e["record_type"] for e in bad] == ["hookwire.result", "hookwire.teleport"]
    assert "missing required field `id`" in bad[0]["error"]
    assert bridge.session.translator.bad_records == 2
    # ``hookwire.me``: the bridge tells the session its own account (WEBJS learns it so)
    me = bridge.ctx.envelopes[-1].me
    assert me is not None and (me.id, me.pushName) == ("11111111111@c.us", "Me")
    assert json.loads(json.dumps(bridge.ctx.names)) == ["session.status", "engine.event"]
