"""BridgeSession against a scripted fake bridge: a real subprocess speaking the bridge protocol."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from bridge_helpers import CountingTranslator, RecordingContext, count, running  # type: ignore[import-not-found]
from structlog.testing import capture_logs

from engines.common.bridge import BridgeNotRunning, BridgeSession
from engines.common.bridge_settings import BridgeSettings

WAIT = 20  # seconds: the bound of every wait in these tests


async def test_records_are_emitted_in_order_and_garbage_is_counted(fake_bridge) -> None:
    bridge = fake_bridge([[
        count("a"),
        {"raw": "this is not JSON"},
        count("b"),
        {"raw_bytes": 5000},  # longer than max_line_bytes (1024)
        {"record": {"type": "mystery", "data": {}}},
        {"raw": ""},  # a blank line is nothing, not an error
        {"record": {"type": "count", "data": {"tag": "emoji \U0001f600 \u202e rtl \u0000 nul"}}},
        {"wait": True},
    ]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 3)
                tg.cancel_scope.cancel()
    assert bridge.ctx.names == ["session.status", "engine.event", "engine.event", "engine.event"]
    assert bridge.ctx.envelopes[0].payload.status == "STARTING"
    assert bridge.ctx.counts() == [{"n": 1, "tag": "a"}, {"n": 2, "tag": "b"},
                                   {"n": 3, "tag": "emoji \U0001f600 \u202e rtl \u0000 nul"}]
    assert bridge.session.translator.bad_records == 3
    bad = [e for e in logs if e["event"] == "bad native record skipped"]
    assert [e["position"] for e in bad] == ["bridge run 1 line 2", "bridge run 1 line 4",
                                            "bridge run 1 line 5"]
    assert "not valid JSON" in bad[0]["error"]
    assert "5000 bytes is longer than the limit of 1024" in bad[1]["error"]
    assert bad[2]["record_type"] == "mystery"
    assert all(e["session"] == "fake" and e["log_level"] == "error" for e in bad)


async def test_a_crashed_bridge_is_restarted_and_the_translator_state_carries(fake_bridge) -> None:
    bridge = fake_bridge([
        [count("a"), count("b"), {"crash": True}],
        [count("c"), {"wait": True}],
    ])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 3)
                tg.cancel_scope.cancel()
    session = bridge.session
    assert [c["tag"] for c in bridge.ctx.counts()] == ["a", "b", "c"]
    assert [c["n"] for c in bridge.ctx.counts()] == [1, 2, 3]  # the same translator
    assert bridge.ctx.names.count("session.status") == 1  # STARTING once per session
    assert session.runs == 2 and session.restarts == 1
    assert session.exit_codes == [-9, 0]
    crash = next(e for e in logs if e["event"] == "bridge killed by a signal; restarting")
    assert crash["signal"] == "SIGKILL" and crash["restart_in_s"] == 0.01
    assert len(set(session.pids)) == 2
    assert not any(running(pid) for pid in session.pids)


async def test_restarts_back_off_exponentially(fake_bridge) -> None:
    bridge = fake_bridge([[count("x"), {"exit": 75}]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 5)
                tg.cancel_scope.cancel()
    restarts = [e for e in logs if e["event"] == "bridge disconnected; restarting"]
    assert [e["restart_in_s"] for e in restarts[:4]] == [0.01, 0.02, 0.04, 0.04]
    assert [e["exit_status"] for e in restarts] == [75] * len(restarts)
    assert [c["n"] for c in bridge.ctx.counts()] == [1, 2, 3, 4, 5]


async def test_cancellation_stops_the_bridge_with_the_stop_command(fake_bridge) -> None:
    bridge = fake_bridge([[count("a"), {"wait": True}]])
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            pid = bridge.session.pid
            assert pid is not None and running(pid)
            tg.cancel_scope.cancel()
    assert bridge.commands() == [{"cmd": "stop"}]
    assert bridge.session.exit_codes == [0]
    assert bridge.session.pid is None
    assert not running(pid)


async def test_a_bridge_that_ignores_stop_is_killed_with_what_it_started(fake_bridge) -> None:
    bridge = fake_bridge([[{"ignore_stop": True}, {"spawn_detached": True}, count("a"),
                           {"wait": True}]], stop_timeout=0.3, kill_timeout=0.3)
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
                pid, detached = bridge.session.pid, bridge.detached_pid()
                assert pid is not None and running(pid) and running(detached)
                tg.cancel_scope.cancel()
    events = [e["event"] for e in logs]
    assert "bridge did not stop in time; terminating it" in events
    assert "bridge did not terminate; killing it" in events
    assert bridge.session.exit_codes == [-9]
    assert not running(pid)
    assert not running(detached)  # in another session and process group, killed all the same


async def test_what_an_exited_bridge_left_behind_is_killed(fake_bridge) -> None:
    bridge = fake_bridge([[{"spawn_detached": True}, {"exit": 75}], [count("a"), {"wait": True}]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.session.wait_until(lambda s: len(s.exit_codes) == 1)
                detached = bridge.detached_pid()
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
                tg.cancel_scope.cancel()
    assert not running(detached)
    left = next(e for e in logs if e["event"] == "killing processes the bridge left behind")
    assert left["pids"] == [detached]


async def test_stderr_lines_are_logged(fake_bridge) -> None:
    bridge = fake_bridge([[
        {"stderr": '{"level":"warn","msg":"library says hi","event":"x","n":1,"time":5}'},
        {"stderr": "a plain line"},
        {"stderr": '{"level":"info","msg":"QR code received: scan it","qr":"2@abc,def"}'},
        {"stderr": '{"level":50,"lib":"baileys","msg":"pino error"}'},
        count("done"),
        {"wait": True},
    ]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
                pid = bridge.session.pid
                tg.cancel_scope.cancel()
    by_event = {e["event"]: e for e in logs}
    hi = by_event["library says hi"]
    assert hi["log_level"] == "warning" and hi["bridge_event"] == "x" and hi["n"] == 1
    assert hi["bridge_pid"] == pid and "time" not in hi
    assert by_event["bridge output"]["line"] == "a plain line"
    qr = by_event["QR code received: scan it"]
    assert qr["log_level"] == "info" and qr["qr"] == "2@abc,def"
    assert by_event["pino error"]["log_level"] == "error"
    assert by_event["pino error"]["lib"] == "baileys"


async def test_exit_status_3_ends_the_session_without_restart(fake_bridge) -> None:
    bridge = fake_bridge([[count("a"), {"exit": 3}], [count("never")]])
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            await bridge.session.run(bridge.ctx, task_status=anyio.TASK_STATUS_IGNORED)
    assert [c["tag"] for c in bridge.ctx.counts()] == ["a"]
    assert bridge.session.runs == 1 and bridge.session.exit_codes == [3]
    assert any(e["event"].startswith("the session needs a new login") for e in logs)


async def test_commands_reach_the_bridge_and_a_requested_stop_ends_the_session(fake_bridge) -> None:
    bridge = fake_bridge([[count("a"), {"wait": True}], [count("never")]])
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            await bridge.session.send_command({"cmd": "pairing-code", "phone": "12345678901"})
            await bridge.session.send_command({"cmd": "stop"})
            await bridge.session.wait_until(lambda s: s.exit_codes == [0])
    # The task group ended by itself: run() returned after the requested stop.
    assert bridge.commands() == [{"cmd": "pairing-code", "phone": "12345678901"}, {"cmd": "stop"}]
    assert bridge.session.runs == 1
    with pytest.raises(BridgeNotRunning):
        await bridge.session.send_command({"cmd": "stop"})
    with pytest.raises(ValueError):
        await bridge.session.send_command({"no": "cmd"})


async def test_the_bridge_gets_the_session_arguments(fake_bridge, tmp_path: Path) -> None:
    bridge = fake_bridge([[count("a"), {"wait": True}]], name="alpha.1", log_level="debug",
                         qr_terminal=True)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            tg.cancel_scope.cancel()
    auth_dir = tmp_path / "data" / "sessions" / "alpha.1" / "auth"
    assert bridge.auth_dir == auth_dir
    # No --qr-terminal: hookwire draws the QR code itself (engines/common/terminal_qr.py).
    assert bridge.args() == ["--session", "alpha.1", "--auth-dir", str(auth_dir),
                             "--log-level", "debug"]
    assert auth_dir.stat().st_mode & 0o077 == 0  # auth state holds keys: owner only


async def test_the_session_config_reaches_the_bridge_as_flags(fake_bridge, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKWIRE_PROXY_PASSWORD", "inherited-must-not-leak")
    bridge = fake_bridge([[count("a"), {"wait": True}]], name="full", heartbeat_seconds=2.5, config={
        "debug": True, "proxy": {"server": "proxy.example:3128", "username": "bob", "password": "s3cret"},
        "device_name": "Front desk", "browser_name": "Firefox", "mark_online": False,
        "tags_events_on": True})
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            tg.cancel_scope.cancel()
    auth_dir = tmp_path / "data" / "sessions" / "full" / "auth"
    assert bridge.args() == [
        "--session", "full", "--auth-dir", str(auth_dir), "--log-level", "debug",
        "--heartbeat-seconds", "2.5", "--proxy", "http://proxy.example:3128",
        "--proxy-username", "bob", "--device-name", "Front desk", "--browser-name", "Firefox",
        "--no-mark-online", "--tags-events"]
    # the password is in the bridge's environment, never on its command line
    assert json.loads((auth_dir / "env.json").read_text()) == {"HOOKWIRE_PROXY_PASSWORD": "s3cret"}
    plain = fake_bridge([[count("a"), {"wait": True}]], name="plain")
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(plain.session.run, plain.ctx)
            await plain.ctx.wait_until(lambda c: len(c.counts()) == 1)
            tg.cancel_scope.cancel()
    assert json.loads((plain.auth_dir / "env.json").read_text()) == {"HOOKWIRE_PROXY_PASSWORD": None}


async def test_an_uninstalled_bridge_is_reported_and_retried(tmp_path: Path) -> None:
    from core.config import SessionConfig

    config = SessionConfig(name="s", engine="TEST", source="bridge")
    session = BridgeSession(config, lambda c: CountingTranslator(c.name), tmp_path / "nowhere",
                            settings=BridgeSettings(data_dir=str(tmp_path), backoff_initial=0.01))
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, RecordingContext(config))  # ready all the same
                tg.cancel_scope.cancel()
    # A warning per failed attempt; an error only when the session gives up (FAILED).
    warning = next(e for e in logs if e["log_level"] == "warning")
    assert warning["event"] == "the bridge is not installed: run `python -m core engines install`"
    assert not [e for e in logs if e["log_level"] == "error"]
    assert session.runs == 0
    assert session.health().last_error == warning["event"]


async def test_a_missing_node_is_reported_without_a_traceback(tmp_path: Path) -> None:
    from core.config import SessionConfig

    bridge_dir = tmp_path / "bridge"
    (bridge_dir / "node_modules").mkdir(parents=True)
    config = SessionConfig(name="s", engine="TEST", source="bridge")
    settings = BridgeSettings.from_env({"HOOKWIRE_NODE": str(tmp_path / "no-such-node"),
                                        "HOOKWIRE_DATA_DIR": str(tmp_path / "data")})
    session = BridgeSession(config, lambda c: CountingTranslator(c.name), bridge_dir,
                            settings=settings)
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, RecordingContext(config))
                tg.cancel_scope.cancel()
    error = next(e for e in logs if e["event"] == "cannot start the bridge")
    assert error["command"] == str(tmp_path / "no-such-node") and error["log_level"] == "warning"
    assert "FileNotFoundError" in error["error"] and "HOOKWIRE_NODE" in error["hint"]
    assert "exc_info" not in error


async def test_a_live_session_drops_the_events_of_ignored_chats(fake_bridge) -> None:
    bridge = fake_bridge([[
        {"record": {"type": "message", "data": {"id": "false_123456789-987654321@g.us_G1_2@c.us"}}},
        {"record": {"type": "message", "data": {"id": "false_22222222222@c.us_D1"}}},
        {"record": {"type": "message", "data": {"id": "false_status@broadcast_S1_2@c.us"}}},
        {"record": {"type": "count", "data": {"tag": "end"}}},
        {"wait": True}]], config={"ignore": {"groups": True}})
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: len(c.counts()) == 1)
            tg.cancel_scope.cancel()
    ids = [e.payload.id for e in bridge.ctx.envelopes if e.name == "message"]
    assert ids == ["false_22222222222@c.us_D1", "false_status@broadcast_S1_2@c.us"]
    assert bridge.ctx.names[0] == "session.status"
    assert bridge.session.ignore.dropped == 1
