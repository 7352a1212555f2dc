"""Sessions tell the truth about themselves: FAILED after repeated connection failures, a
watchdog restart of a silent bridge, and the health they report, against the scripted fake
bridge (a real subprocess)."""

from __future__ import annotations

import time

import anyio
import pytest
from bridge_helpers import count, running, status, working  # type: ignore[import-not-found]
from structlog.testing import capture_logs

from core.engine import CommandError

WAIT = 30  # seconds: the bound of every wait in these tests
CLOSED = ('{"level":"warn","msg":"connection closed; hookwire will reconnect",'
          '"error":"Connection Failure"}')


def statuses(ctx) -> list[str]:
    return [e.payload.status for e in ctx.envelopes if e.name == "session.status"]


async def test_repeated_connection_failures_take_the_session_to_failed(fake_bridge) -> None:
    bridge = fake_bridge([[count("x"), {"stderr": CLOSED}, {"exit": 75}]],
                         fail_after=3, fail_window=60)
    session = bridge.session
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            await session.run(bridge.ctx, task_status=anyio.TASK_STATUS_IGNORED)  # ends by itself
    assert session.runs == 3 and session.restarts == 2 and session.exit_codes == [75, 75, 75]
    assert statuses(bridge.ctx) == ["STARTING", "FAILED"]
    failed = bridge.ctx.envelopes[-1]
    assert failed.name == "session.status" and failed.session == "fake"
    assert [s.status for s in failed.payload.statuses] == ["STARTING", "FAILED"]
    health = session.health()
    assert health.failed and health.restarts == 2 and health.stalls == 0
    assert health.last_error == "connection closed; hookwire will reconnect: Connection Failure"
    assert abs(health.last_error_at - time.time() * 1000) < 10_000
    # the same cause, the same levels: a warning per failed attempt, one error when giving up
    tries = [e for e in logs if e["event"] == "bridge disconnected; restarting"]
    assert [e["log_level"] for e in tries] == ["warning", "warning"]
    assert [e["failed_attempts"] for e in tries] == ["1/3", "2/3"]
    assert all(e["error"] == health.last_error and e["connected"] is False for e in tries)
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == [
        "3 connection attempts failed within 60 s; the bridge is not restarted"]
    assert errors[0]["error"] == health.last_error
    with pytest.raises(CommandError) as after:
        await session.request("pairing-code", {"phone": "1"})
    assert after.value.code == "not_working" and "FAILED" in after.value.message


async def test_a_run_that_reached_working_starts_the_count_over(fake_bridge) -> None:
    bridge = fake_bridge([
        [{"exit": 75}],
        [*working(), count("connected"), {"exit": 75}],  # a disconnect after WORKING
        [{"exit": 75}],
        [*working(), count("again"), {"wait": True}],
    ], fail_after=2, fail_window=60)
    session = bridge.session
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 2)
            tg.cancel_scope.cancel()
    assert session.runs == 4 and not session.health().failed
    assert statuses(bridge.ctx) == ["STARTING", "WORKING"]  # consecutive WORKING not repeated


async def test_a_bridge_that_needs_a_new_login_makes_the_session_failed(fake_bridge) -> None:
    bridge = fake_bridge([[status("SCAN_QR_CODE"), {"exit": 3}], [count("never")]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            await bridge.session.run(bridge.ctx, task_status=anyio.TASK_STATUS_IGNORED)
    assert statuses(bridge.ctx) == ["STARTING", "SCAN_QR_CODE", "FAILED"]
    assert bridge.session.health().failed and bridge.session.runs == 1
    error = next(e for e in logs if e["log_level"] == "error")
    assert error["event"].startswith("the session needs a new login")


async def test_fail_after_zero_never_gives_up(fake_bridge) -> None:
    bridge = fake_bridge([[{"exit": 75}], [{"exit": 75}], [{"exit": 75}], [count("up"), {"wait": True}]],
                         fail_after=0)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            tg.cancel_scope.cancel()
    assert bridge.session.runs == 4 and not bridge.session.health().failed


async def test_a_working_bridge_that_goes_silent_is_restarted_and_the_stall_counted(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), count("before"), {"silent": True}, {"wait": True}],
                          [*working(), count("after"), {"wait": True}]],
                         heartbeat_seconds=0.1, stall_seconds=1.5)
    session = bridge.session
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 2)
                first = session.pids[0]
                health = session.health()
                tg.cancel_scope.cancel()
    assert [c["tag"] for c in bridge.ctx.counts()] == ["before", "after"]
    assert session.runs == 2 and health.stalls == 1 and health.restarts == 1
    assert not health.failed and not running(first)
    assert "wrote nothing for" in health.last_error and "while the session was WORKING" in health.last_error
    assert abs(health.last_activity_at - time.time() * 1000) < 5_000
    stall = next(e for e in logs if e["event"] == "bridge went silent; restarting it")
    assert stall["log_level"] == "warning" and stall["status"] == "WORKING"
    assert stall["stalls"] == 1 and stall["silent_s"] > 1.5
    restart = next(e for e in logs if e["event"] == "bridge went silent; restarting")
    assert restart["log_level"] == "warning" and restart["connected"] is True
    assert statuses(bridge.ctx) == ["STARTING", "WORKING"]  # no FAILED: the session carried on
    assert "--heartbeat-seconds" in bridge.args() and bridge.args()[bridge.args().index(
        "--heartbeat-seconds") + 1] == "0.1"


async def test_heartbeats_keep_a_quiet_working_session_alive(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"wait": True}]], heartbeat_seconds=0.1, stall_seconds=1.0)
    session = bridge.session
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await session.wait_until(lambda s: s.heartbeats >= 30)  # 3 s: three stall limits
            tg.cancel_scope.cancel()
    assert session.runs == 1 and session.stalls == 0
    assert session.bridge_status == "WORKING"
    assert "engine.event" not in bridge.ctx.names  # heartbeats are not native events


async def test_without_heartbeats_there_is_no_watchdog(fake_bridge) -> None:
    bridge = fake_bridge([[*working(), {"wait": True}]], heartbeat_seconds=0, stall_seconds=0.2)
    session = bridge.session
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: "session.status" in c.names)
            with anyio.move_on_after(1.0):  # five stall limits pass without a restart
                await session.wait_until(lambda s: s.runs > 1)
            tg.cancel_scope.cancel()
    assert session.runs == 1 and session.stalls == 0
    assert "--heartbeat-seconds" not in bridge.args()


async def test_health_of_a_fresh_session(fake_bridge) -> None:
    bridge = fake_bridge([[count("a"), {"wait": True}]])
    health = bridge.session.health()
    assert (health.restarts, health.stalls, health.failed) == (0, 0, False)
    assert health.last_error is None and health.last_error_at is None
    assert health.last_activity_at is None
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            health = bridge.session.health()
            tg.cancel_scope.cancel()
    assert health.last_activity_at is not None
    assert abs(health.last_activity_at - time.time() * 1000) < 5_000
