"""Sessions started and stopped while the kernel runs (what the HTTP API drives)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from scripted_parts import CollectingSink, ScriptedEngine, SinkPlugin, emits, write_script

from core.app import App
from core.config import SessionConfig
from core.kernel import (
    Kernel,
    KernelNotRunning,
    SessionAlreadyRunning,
    SessionError,
    SessionNotRunning,
)
from core.supervisor import Backoff

BRIDGE_TESTS = Path(__file__).resolve().parents[1] / "engines" / "bridge"


def tiny_backoff() -> Backoff:
    return Backoff(initial=0.01, maximum=0.02)


def build(tmp_path: Path, *sinks: Any, kernel: str = "", extra: tuple[Any, ...] = ()
          ) -> tuple[Kernel, ScriptedEngine]:
    scripted = ScriptedEngine()
    app = App.load(extra_plugins=[("scripted", scripted), ("sinks", SinkPlugin(*sinks)), *extra],
                   entry_points=False)
    config = tmp_path / "hookwire.toml"
    config.write_text(f"[kernel]\n{kernel}\n")
    app.load_config(config, environ={})
    return Kernel(app, restart_backoff=tiny_backoff), scripted


def session(tmp_path: Path, name: str, steps: list[dict[str, Any]], engine: str = "SCRIPT",
            **options: Any) -> SessionConfig:
    script = write_script(tmp_path / f"{name}.jsonl", steps)
    return SessionConfig(name=name, engine=engine, replay=str(script), **options)


async def test_the_registry_knows_its_kernel(tmp_path):
    kernel, _ = build(tmp_path)
    assert kernel.app.registry.kernel is kernel


async def test_with_no_session_the_kernel_runs_on_and_takes_sessions_at_run_time(tmp_path):
    sink = CollectingSink("all")
    kernel, scripted = build(tmp_path, sink)
    stop = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            assert kernel.session_names() == []
            await kernel.start_session(session(tmp_path, "late", emits("a", "b") + [{"hold": True}],
                                               metadata={"who": "api"}))
            assert kernel.session_names() == ["late"]
            assert kernel.session_config("late").metadata == {"who": "api"}
            await sink.wait_for(2)
            assert [(e.session, e.metadata) for e in sink.received] == [("late", {"who": "api"})] * 2

            await kernel.stop_session("late")
            assert kernel.session_names() == [] and kernel.session_config("late") is None
            assert not kernel.bus.closed  # still running, with no session

            # Started again: a new session object, so the recording plays from the start.
            first = scripted.sessions["late"]
            await kernel.start_session(session(tmp_path, "late", emits("a", "b") + [{"hold": True}]))
            assert scripted.sessions["late"] is not first and first.runs == 1
            await sink.wait_for(4)
            stop.set()
    assert sink.bodies() == ["a", "b", "a", "b"]
    assert kernel.session_names() == []


async def test_start_and_stop_refuse_what_cannot_be_done(tmp_path):
    kernel, _ = build(tmp_path, CollectingSink("all"))
    held = session(tmp_path, "s", [{"hold": True}])
    with pytest.raises(KernelNotRunning):
        await kernel.start_session(held)  # not running yet
    stop = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            await kernel.start_session(held)
            with pytest.raises(SessionAlreadyRunning, match="'s' is already running"):
                await kernel.start_session(held)
            with pytest.raises(SessionNotRunning, match="'nope' is not running"):
                await kernel.stop_session("nope")
            with pytest.raises(SessionError, match="unknown engine 'MISSING'"):
                await kernel.start_session(SessionConfig(name="x", engine="MISSING", replay="x"))
            assert kernel.session_names() == ["s"]
            stop.set()
    with pytest.raises(KernelNotRunning):
        await kernel.start_session(session(tmp_path, "after", [{"hold": True}]))


async def test_a_session_in_crash_backoff_can_be_stopped(tmp_path):
    kernel, scripted = build(tmp_path, CollectingSink("all"))
    kernel.restart_backoff = lambda: Backoff(initial=30, maximum=30)  # stuck in a long backoff
    stop = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            await kernel.start_session(session(tmp_path, "bad", [{"crash_always": "boom"}]))
            await scripted.sessions["bad"].wait_runs(1)
            await kernel.stop_session("bad")
            assert kernel.session_names() == []
            stop.set()


async def test_stopping_one_session_leaves_the_others_running(tmp_path):
    sink = CollectingSink("all")
    kernel, _ = build(tmp_path, sink)
    stop = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            await kernel.start_session(session(tmp_path, "one", emits("1") + [{"hold": True}]))
            await kernel.start_session(session(tmp_path, "two", emits("2") + [{"hold": True}]))
            await sink.wait_for(2)
            await kernel.stop_session("one")
            assert kernel.session_names() == ["two"]
            stop.set()
    assert sorted(sink.bodies()) == ["1", "2"]


async def test_exit_when_done_waits_for_sessions_started_at_run_time(tmp_path):
    sink = CollectingSink("all")
    kernel, _ = build(tmp_path, sink, kernel="exit_when_done = true")
    kernel.sessions = [session(tmp_path, "first", emits("x") + [{"hold": True}])]
    done = anyio.Event()

    async def run() -> None:
        await kernel.run(anyio.Event())
        done.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await kernel.sessions_ready.wait()
            await kernel.start_session(session(tmp_path, "second", emits("y")))
            await sink.wait_for(2)
            await kernel.stop_session("first")
            await done.wait()  # "second" ended (its recording is done), "first" was stopped
    assert sorted(sink.bodies()) == ["x", "y"]


async def test_stopping_a_bridge_session_stops_its_process(tmp_path):
    sys.path.insert(0, str(BRIDGE_TESTS))
    try:
        from bridge_helpers import count, running  # type: ignore[import-not-found]
        from test_bridge_kernel import BridgeTestPlugin  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BRIDGE_TESTS))
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps([[count("a"), {"wait": True}]]))
    plugin = BridgeTestPlugin(scenario, tmp_path / "data")
    kernel, _ = build(tmp_path, extra=(("bridge-test", plugin),))
    sink = plugin.sink
    stop = anyio.Event()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            await kernel.start_session(SessionConfig(name="live", engine="TEST", source="bridge"))
            while not any(e.name == "engine.event" for e in sink.received):
                await sink.changed.wait()
            (bridge,) = plugin.sessions
            pid = bridge.pid
            assert pid is not None and running(pid)
            await kernel.stop_session("live")
            assert not running(pid)
            assert kernel.session_names() == []
            stop.set()
    commands = (bridge.auth_dir / "commands.jsonl").read_text().splitlines()
    assert [json.loads(c) for c in commands] == [{"cmd": "stop"}]


async def test_a_session_started_from_a_sink_does_not_log_as_that_sink(tmp_path):
    import structlog
    from structlog.testing import capture_logs

    kernel, _ = build(tmp_path, CollectingSink("all"))
    stop = anyio.Event()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            with structlog.contextvars.bound_contextvars(plugin="api"):
                await kernel.start_session(session(tmp_path, "s", [{"hold": True}]))
                await kernel.stop_session("s")
            stop.set()
    starting = [e for e in logs if e["event"] == "session starting"]
    stopped = [e for e in logs if e["event"] == "session stopped"]
    assert len(starting) == 1 and len(stopped) == 1
    assert starting[0]["session"] == "s" and "plugin" not in starting[0]
    assert stopped[0]["session"] == "s" and "plugin" not in stopped[0]
