"""A unit that crashes again and again without progress is never restarted for ever: the
supervisor skips what it is stuck on (``core.supervisor.Resumable``) or gives it up, with one
clear line; the kernel then reports a session as FAILED, or stops when a sink that must not
lose events is given up. Real replay sessions, the real WEBJS engine, the real kernel."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import anyio
import structlog
from scripted_parts import CollectingSink, SinkPlugin
from structlog.testing import capture_logs as _capture_logs

from core import builtin_commands, hookimpl
from core.app import App
from core.config import SessionConfig
from core.engine import Emission, EngineType
from core.kernel import Kernel
from core.payloads import MessagePayload
from core.supervisor import STUCK_CRASHES, STUCK_CRASHES_WITHOUT_MARKER, Backoff, Resumable, supervise
from engines.common.replay import ReplaySession
from engines.common.translator import BaseTranslator
from engines.webjs.translator import WebjsTranslator

ME = "11111111111@c.us"
FAILED = "unit failed: it crashed again and again without progress; it is not restarted"
SKIPPED = "skipped what the unit keeps crashing on"


def capture_logs():
    return _capture_logs(processors=[structlog.contextvars.merge_contextvars])


def tiny() -> Backoff:
    return Backoff(initial=0.001, maximum=0.002)


class Stuck:
    """A unit stuck on item 2 of 5 for ``crash_times`` runs in a row (for ever with None)."""

    def __init__(self, crash_times: int | None, can_skip: bool = True) -> None:
        self.position = 0
        self.done: list[int] = []
        self.runs = 0
        self.crash_times = crash_times
        self.can_skip = can_skip
        self.skips: list[int] = []

    async def __call__(self, task_status: Any) -> None:
        self.runs += 1
        task_status.started()
        while self.position < 5:
            if self.position == 2 and (self.crash_times is None or self.runs <= self.crash_times):
                raise RecursionError("maximum recursion depth exceeded")
            self.done.append(self.position)
            self.position += 1

    def progress(self) -> int:
        return self.position

    def skip_stuck(self) -> str | None:
        if not self.can_skip:
            return None
        self.skips.append(self.position)
        self.position += 1
        return f"item {self.position - 1}"


async def test_a_unit_stuck_at_one_position_is_skipped_past_it_and_goes_on() -> None:
    unit = Stuck(crash_times=None)
    assert isinstance(unit, Resumable)
    with capture_logs() as logs, anyio.fail_after(10):
        assert await supervise("session s", unit, backoff=tiny(), progress=unit) is True
    assert unit.done == [0, 1, 3, 4] and unit.skips == [2]
    assert unit.runs == STUCK_CRASHES + 1
    [skipped] = [r for r in logs if r["event"] == SKIPPED]
    assert (skipped["position"], skipped["crashes"], skipped["skipped"], skipped["log_level"]) == (
        "item 2", STUCK_CRASHES, 1, "warning")
    assert skipped["error"] == "RecursionError: maximum recursion depth exceeded"
    assert len([r for r in logs if r["event"] == "unit crashed, restarting"]) == STUCK_CRASHES - 1


async def test_a_unit_that_recovers_before_the_limit_is_not_skipped() -> None:
    unit = Stuck(crash_times=STUCK_CRASHES - 1)
    with capture_logs() as logs, anyio.fail_after(10):
        assert await supervise("u", unit, backoff=tiny(), progress=unit) is True
    assert unit.done == [0, 1, 2, 3, 4] and unit.skips == []
    assert not [r for r in logs if r["event"] in (SKIPPED, FAILED)]


async def test_a_stuck_unit_with_nothing_to_skip_is_given_up_with_one_line() -> None:
    unit = Stuck(crash_times=None, can_skip=False)
    failures: list[str] = []

    async def failed(error: str) -> None:
        failures.append(error)

    with capture_logs() as logs, anyio.fail_after(10):
        assert await supervise("sink s", unit, backoff=tiny(), progress=unit, on_failed=failed) is False
    assert unit.runs == STUCK_CRASHES
    assert failures == ["RecursionError: maximum recursion depth exceeded"]
    [given_up] = [r for r in logs if r["event"] == FAILED]
    assert (given_up["unit"], given_up["crashes"], given_up["log_level"]) == ("sink s", STUCK_CRASHES, "error")


async def test_a_unit_without_a_marker_is_given_up_after_quick_crashes_only() -> None:
    runs = 0

    async def always(task_status: Any) -> None:
        nonlocal runs
        runs += 1
        raise OSError("no such table")

    with capture_logs(), anyio.fail_after(20):
        assert await supervise("u", always, backoff=tiny()) is False
    assert runs == STUCK_CRASHES_WITHOUT_MARKER

    # Up long enough before each crash (the backoff's reset_after): progress, never given up.
    ups = 0

    async def up_then_crash(task_status: Any) -> None:
        nonlocal ups
        ups += 1
        if ups > STUCK_CRASHES_WITHOUT_MARKER + 5:
            return
        await anyio.sleep(0.02)
        raise OSError("gone after a while")

    with capture_logs() as logs, anyio.fail_after(20):
        assert await supervise("u", up_then_crash,
                               backoff=Backoff(initial=0.001, maximum=0.002, reset_after=0.01)) is True
    assert not [r for r in logs if r["event"] == FAILED]


async def test_a_unit_that_moves_on_between_crashes_is_never_skipped() -> None:
    class Moving:
        position = 0

        def progress(self) -> int:
            return self.position

        def skip_stuck(self) -> str | None:
            raise AssertionError("nothing to skip: it moves on")

    moving = Moving()

    async def unit(task_status: Any) -> None:
        moving.position += 1
        if moving.position < 20:
            raise ValueError(f"at {moving.position}")

    with capture_logs(), anyio.fail_after(10):
        assert await supervise("u", unit, backoff=tiny(), progress=moving) is True


# -- the kernel --------------------------------------------------------------------------------

class BuggyTranslator(BaseTranslator):
    """A third-party translator with a bug: line 2 always raises out of ``translate_line``."""

    engine = "BUGGY"

    def translate_line(self, line: bytes | str, position: str) -> list[Emission]:
        if position.endswith(":2"):
            raise RecursionError("maximum recursion depth exceeded while decoding")
        return [Emission("message", MessagePayload(body=json.loads(line)["body"]))]


class Engines:
    """``BUGGY`` replays through :class:`BuggyTranslator`, ``WEBJS2`` through the real WEBJS one."""

    def __init__(self) -> None:
        self.sessions: dict[str, ReplaySession] = {}

    def _session(self, make: Any) -> Any:
        def create(config: SessionConfig) -> ReplaySession:
            self.sessions[config.name] = ReplaySession(config, make)
            return self.sessions[config.name]
        return create

    @hookimpl
    def hookwire_register_engines(self, registry: Any) -> None:
        registry.add_engine(EngineType(name="BUGGY", create_translator=BuggyTranslator,
                                       create_session=self._session(lambda c: BuggyTranslator(c.name))))
        registry.add_engine(EngineType(name="WEBJS2", create_translator=WebjsTranslator,
                                       create_session=self._session(lambda c: WebjsTranslator(c.name, ME))))


def kernel_of(tmp_path: Path, sessions: dict[str, tuple[str, list[str]]], *sinks: Any) -> tuple[App, Kernel, Engines]:
    engines = Engines()
    app = App.load(extra_plugins=[("engines", engines), ("sinks", SinkPlugin(*sinks))], entry_points=False)
    parts = [f"[kernel]\nexit_when_done = true\ndata_dir = '{tmp_path / 'data'}'\n"]
    for name, (engine, lines) in sessions.items():
        recording = tmp_path / f"{name}.jsonl"
        recording.write_text("".join(line + "\n" for line in lines))
        parts.append(f"[[sessions]]\nname = '{name}'\nengine = '{engine}'\nreplay = '{recording}'\n")
    (tmp_path / "hookwire.toml").write_text("\n".join(parts))
    app.load_config(tmp_path / "hookwire.toml", environ={})
    return app, Kernel(app, restart_backoff=tiny), engines


async def test_a_replay_stuck_on_one_line_skips_it_and_emits_the_rest(tmp_path: Path) -> None:
    sink = CollectingSink("all")
    lines = [json.dumps({"body": b}) for b in ("one", "two", "three", "four")]
    _, kernel, engines = kernel_of(tmp_path, {"buggy": ("BUGGY", lines)}, sink)
    with capture_logs() as logs, anyio.fail_after(20):
        await kernel.run(anyio.Event())
    assert sink.bodies() == ["one", "three", "four"]
    [skipped] = [r for r in logs if r["event"] == SKIPPED]
    assert (skipped["unit"], skipped["position"], skipped["session"]) == ("session buggy", "buggy.jsonl:2", "buggy")
    assert engines.sessions["buggy"].skipped == 1 and kernel.failed_units == []


async def test_a_replay_that_cannot_go_on_is_failed_and_says_so_in_session_status(tmp_path: Path) -> None:
    sink = CollectingSink("all")
    good = CollectingSink("good-only", events=["message"])
    app, kernel, engines = kernel_of(tmp_path, {"gone": ("WEBJS2", ['{"type":"ready"}']),
                                                "fine": ("BUGGY", [json.dumps({"body": "x"})])}, sink, good)
    (tmp_path / "gone.jsonl").unlink()  # read at every start: every start fails, nothing to skip
    with capture_logs() as logs, anyio.fail_after(20):
        await kernel.run(anyio.Event())
    assert kernel.failed_units == ["session gone"]
    statuses = [(e.session, e.payload.status) for e in sink.received if e.name == "session.status"]
    assert statuses == [("gone", "FAILED")]
    assert [s.status for s in sink.received[-1].payload.statuses] == ["STARTING", "FAILED"]
    assert good.bodies() == ["x"]  # the other session was not held back
    [given_up] = [r for r in logs if r["event"] == FAILED]
    assert given_up["session"] == "gone" and given_up["error"].startswith("FileNotFoundError")
    assert given_up["crashes"] == STUCK_CRASHES  # the same position each time, nothing in hand to skip


class BrokenSink(CollectingSink):
    """Fails at every start; it says it makes no progress and has nothing to skip."""

    async def run(self, subscription: Any, *, task_status: Any) -> None:
        self.runs += 1
        task_status.started()
        raise sqlite_error()

    def progress(self) -> str:
        return "opening the store"

    def skip_stuck(self) -> None:
        return None


def sqlite_error() -> Exception:
    import sqlite3

    return sqlite3.OperationalError("disk I/O error")


async def test_a_block_sink_given_up_stops_the_kernel_and_the_run_command_exits_1(tmp_path: Path) -> None:
    broken = BrokenSink("broken")
    observer = BrokenSink("observer", overflow="drop")
    sink = CollectingSink("all")
    app, kernel, _ = kernel_of(tmp_path, {"s": ("BUGGY", [json.dumps({"body": "x"})])}, broken, observer, sink)
    app.config.core.kernel.exit_when_done = False  # only the failure can end this run
    args = argparse.Namespace()
    with capture_logs() as logs, anyio.fail_after(30):
        status = await builtin_commands._run(args, app)
    assert status == 1
    assert broken.runs == STUCK_CRASHES and observer.runs == STUCK_CRASHES
    assert sorted(app.registry.kernel.failed_units) == ["sink broken", "sink observer"]
    [stopping] = [r for r in logs if r["event"] == "a sink that must not lose events failed: stopping"]
    assert stopping["plugin"] == "broken"
    [intake] = [r for r in logs if r["event"] == "intake stopped"]
    assert intake["reason"] == "a sink failed"
    [done] = [r for r in logs if r["event"] == "stopped with failed units"]
    assert done["units"] in ("sink broken, sink observer", "sink observer, sink broken")
    assert sink.bodies() == ["x"]
