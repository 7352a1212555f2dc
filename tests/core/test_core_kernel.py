"""The kernel: sinks and sessions supervised in one task group, start-up order, shut-down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from scripted_parts import CollectingSink, ScriptedEngine, SinkPlugin, emits, write_script
from structlog.testing import capture_logs as _capture_logs

from core.app import App
from core.kernel import Kernel
from core.supervisor import Backoff


def capture_logs():
    """Captured log records with the context bound by the kernel (session, engine, plugin)."""
    return _capture_logs(processors=[structlog.contextvars.merge_contextvars])


def tiny_backoff() -> Backoff:
    return Backoff(initial=0.01, maximum=0.02)


def build(tmp_path: Path, sessions: dict[str, list[dict[str, Any]]], *sinks: Any,
          kernel: str = "", engine: str = "SCRIPT", metadata: str = "") -> tuple[Kernel, ScriptedEngine]:
    scripted = ScriptedEngine()
    app = App.load(extra_plugins=[("scripted", scripted), ("sinks", SinkPlugin(*sinks))],
                   entry_points=False)
    parts = [f"[kernel]\n{kernel}\n"]
    for name, steps in sessions.items():
        script = write_script(tmp_path / f"{name}.jsonl", steps)
        parts.append(f"[[sessions]]\nname = '{name}'\nengine = '{engine}'\nreplay = '{script}'\n"
                     f"me_id = '11111111111@c.us'\n{metadata}\n")
    config = tmp_path / "hookwire.toml"
    config.write_text("\n".join(parts))
    app.load_config(config, environ={})
    return Kernel(app, restart_backoff=tiny_backoff), scripted


async def test_exit_when_done_delivers_everything_then_returns(tmp_path):
    sink = CollectingSink("all")
    acks = CollectingSink("acks", events=["message.ack"])
    kernel, _ = build(tmp_path, {"one": emits("a", "b") + emits("c", name="message.ack"),
                                 "two": emits("x", "y")},
                      sink, acks, kernel="exit_when_done = true",
                      metadata="metadata = { tenant = 't1' }")
    with capture_logs() as logs, anyio.fail_after(5):
        await kernel.run(anyio.Event())
    assert sorted(sink.bodies()) == ["a", "b", "c", "x", "y"]
    assert acks.bodies() == ["c"]
    assert sink.finished and acks.finished
    assert not sink.shutdown_called  # no signal: sinks ran until their work was final
    one = [e for e in sink.received if e.session == "one"]
    assert [e.payload.body for e in one] == ["a", "b", "c"]  # per session, in order
    first = one[0]
    assert (first.engine, first.environment.engine, first.me.id, first.metadata) == (
        "SCRIPT", "SCRIPT", "11111111111@c.us", {"tenant": "t1"})
    assert kernel.stats.events_total == 5
    assert kernel.stats.events_in[("message", "SCRIPT")] == 4
    assert kernel.summary() == {"events": 5, "all": {"received": 5}, "acks": {"received": 1}}
    assert {"event": "intake stopped", "events": 5, "reason": "sources ended",
            "log_level": "info"} in logs
    assert kernel.bus.subscribers == []


async def test_readiness_comes_after_sinks_and_sessions_started_and_nothing_is_lost(tmp_path):
    sink = CollectingSink("all")
    kernel, scripted = build(tmp_path, {"live": emits("first") + [{"hold": True}]}, sink)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            await tg.start(kernel.run, stop)
            assert sink.runs == 1 and scripted.sessions["live"].runs == 1
            await sink.wait_for(1)  # emitted the moment the session started: already subscribed
            stop.set()
    assert sink.bodies() == ["first"]
    assert kernel.stopped_by_signal


async def test_without_exit_when_done_the_kernel_keeps_running_after_sources_end(tmp_path):
    sink = CollectingSink("all")
    kernel, _ = build(tmp_path, {"s": emits("a")}, sink)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(kernel.run, stop)
        await sink.wait_for(1)
        await anyio.wait_all_tasks_blocked()
        assert not kernel.bus.closed  # still serving
        stop.set()
    assert kernel.bus.closed


async def test_a_crashing_session_is_restarted_and_goes_on_where_it_was(tmp_path):
    sink = CollectingSink("all")
    kernel, scripted = build(tmp_path, {"s": emits("a") + [{"crash": "boom"}] + emits("b")}, sink,
                             kernel="exit_when_done = true")
    with capture_logs() as logs, anyio.fail_after(5):
        await kernel.run(anyio.Event())
    assert sink.bodies() == ["a", "b"]
    assert scripted.sessions["s"].runs == 2
    [crash] = [r for r in logs if r["event"] == "unit crashed, restarting"]
    assert (crash["unit"], crash["error"], crash["session"], crash["engine"]) == (
        "session s", "RuntimeError: boom", "s", "SCRIPT")


async def test_a_session_that_keeps_crashing_does_not_stop_the_others(tmp_path):
    sink = CollectingSink("all")
    kernel, scripted = build(tmp_path, {"bad": [{"crash_always": "nope"}],
                                        "good": emits(*"abcdef") + [{"hold": True}]}, sink)
    stop = anyio.Event()
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(5):
                await tg.start(kernel.run, stop)
                await sink.wait_for(6)
                await scripted.sessions["bad"].wait_runs(3)  # restarted again and again meanwhile
                stop.set()
    assert sink.bodies() == list("abcdef")
    crashes = [r for r in logs if r["event"] == "unit crashed, restarting"]
    assert {r["unit"] for r in crashes} == {"session bad"}
    delays = [r["restart_in_s"] for r in crashes]
    assert delays[:2] == [0.01, 0.02]


async def test_a_session_that_cannot_be_built_is_logged_and_the_others_run(tmp_path):
    sink = CollectingSink("all")
    scripted = ScriptedEngine()
    app = App.load(extra_plugins=[("scripted", scripted), ("sinks", SinkPlugin(sink))],
                   entry_points=False)
    good = write_script(tmp_path / "good.jsonl", emits("a", "b"))
    config = tmp_path / "hookwire.toml"
    config.write_text(f"[[sessions]]\nname = 'broken'\nengine = 'UNBUILDABLE'\nreplay = '{good}'\n"
                      f"[[sessions]]\nname = 'good'\nengine = 'SCRIPT'\nreplay = '{good}'\n")
    app.load_config(config, environ={})
    kernel = Kernel(app, restart_backoff=tiny_backoff)
    stop = anyio.Event()
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(5):
                await tg.start(kernel.run, stop)
                await sink.wait_for(2)
                stop.set()
    assert sink.bodies() == ["a", "b"]
    crashes = [r for r in logs if r["event"] == "unit crashed, restarting"]
    assert crashes and crashes[0]["unit"] == "session broken"
    assert crashes[0]["error"] == "ValueError: cannot build session 'broken'"


async def test_a_crashing_sink_is_restarted_with_its_subscription_and_the_others_keep_going(tmp_path):
    flaky = CollectingSink("flaky", crash_on="b")
    steady = CollectingSink("steady")
    kernel, _ = build(tmp_path, {"s": emits("a", "b", "c", "d")}, flaky, steady,
                      kernel="exit_when_done = true")
    with capture_logs() as logs, anyio.fail_after(5):
        await kernel.run(anyio.Event())
    assert flaky.bodies() == ["a", "b", "c", "d"]  # nothing buffered was lost by the crash
    assert flaky.runs == 2
    assert steady.bodies() == ["a", "b", "c", "d"]
    [crash] = [r for r in logs if r["event"] == "unit crashed, restarting"]
    assert (crash["unit"], crash["plugin"]) == ("sink flaky", "flaky")


async def test_stop_ends_intake_and_gives_sinks_the_grace_period(tmp_path):
    sink = CollectingSink("all", linger=True)  # "in-flight work" until begin_shutdown
    kernel, scripted = build(tmp_path, {"s": emits("a") + [{"hold": True}] + emits("never")},
                             sink, kernel="grace_seconds = 5")
    stop = anyio.Event()
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(4):  # well under the grace period: begin_shutdown ended it
                await tg.start(kernel.run, stop)
                await sink.wait_for(1)
                stop.set()
    assert sink.shutdown_called and sink.finished
    assert sink.bodies() == ["a"]
    assert kernel.stopped_by_signal and kernel.bus.closed
    assert {"event": "intake stopped", "events": 1, "reason": "signal",
            "log_level": "info"} in logs
    assert not [r for r in logs if r["event"] == "grace period over, stopping with work in flight"]


async def test_a_sink_that_outlives_the_grace_period_is_cancelled(tmp_path):
    sink = CollectingSink("all", linger=True, stubborn=True)
    kernel, _ = build(tmp_path, {"s": emits("a")}, sink, kernel="grace_seconds = 0.05")
    stop = anyio.Event()
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(5):
                await tg.start(kernel.run, stop)
                await sink.wait_for(1)
                stop.set()
    assert sink.shutdown_called and not sink.finished
    assert {"event": "grace period over, stopping with work in flight", "grace_seconds": 0.05,
            "log_level": "warning"} in logs


async def test_a_stop_while_sinks_finish_after_sources_ended_starts_the_grace_period(tmp_path):
    sink = CollectingSink("all", linger=True)
    kernel, _ = build(tmp_path, {"s": emits("a")}, sink, kernel="exit_when_done = true")
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            await tg.start(kernel.run, stop)
            await sink.wait_for(1)
            while not kernel.bus.closed:  # sources ended; the sink still has work in flight
                await anyio.wait_all_tasks_blocked()
            assert not sink.shutdown_called
            stop.set()
    assert sink.shutdown_called and sink.finished
    assert kernel.stopped_by_signal


async def test_a_sink_that_returns_early_never_stalls_the_sessions(tmp_path):
    class Quitter(CollectingSink):
        async def run(self, subscription, *, task_status) -> None:
            task_status.started()  # ... and returns at once: done for good

    quitter = Quitter("quitter")
    steady = CollectingSink("steady")
    kernel, _ = build(tmp_path, {"s": emits(*[str(i) for i in range(30)])}, quitter, steady,
                      kernel="exit_when_done = true\nbus_buffer = 4")
    with capture_logs() as logs, anyio.fail_after(5):
        await kernel.run(anyio.Event())
    assert len(steady.received) == 30
    assert {"event": "sink returned before the bus closed, unsubscribed", "plugin": "quitter",
            "log_level": "warning"} in logs


@pytest.mark.parametrize("overflow", ["block", "drop"])
async def test_a_slow_block_sink_holds_the_session_back_a_drop_sink_does_not(tmp_path, overflow):
    gate = anyio.Event()

    class Slow(CollectingSink):
        async def run(self, subscription, *, task_status) -> None:
            task_status.started()
            await gate.wait()
            await super().run(subscription, task_status=task_status)

    slow = Slow("slow", overflow=overflow)
    steady = CollectingSink("steady", overflow="drop")
    kernel, scripted = build(tmp_path, {"s": emits(*[str(i) for i in range(10)]) + [{"hold": True}]},
                             slow, steady, kernel="bus_buffer = 3")
    stop = anyio.Event()
    with capture_logs():
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(5):
                await tg.start(kernel.run, stop)
                await anyio.wait_all_tasks_blocked()
                position = scripted.sessions["s"].position
                gate.set()
                await steady.wait_for(3)
                await anyio.wait_all_tasks_blocked()
                stop.set()
    if overflow == "block":
        assert position == 3  # three buffered, the fourth waits: backpressure
        assert slow.bodies() == [str(i) for i in range(10)]
    else:
        assert position == 10  # never waited; what did not fit was dropped
        assert slow.bodies() == ["0", "1", "2"]
