"""A bridge session run by the real kernel: events reach a sink through the bus, and stopping
the kernel stops the bridge process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus
from bridge_helpers import FAKE_BRIDGE, CountingTranslator, count, running  # type: ignore[import-not-found]

from core import hookimpl
from core.app import App
from core.bus import Subscription
from core.config import SessionConfig
from core.engine import EngineType
from core.events import Envelope
from core.kernel import Kernel
from core.registry import Registry
from engines.common.bridge import BridgeSession
from engines.common.bridge_settings import BridgeSettings


class CollectingSink:
    name = "collector"
    events = frozenset({"*", "engine.event"})
    overflow = "block"

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.changed = anyio.Event()

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        task_status.started()
        async for event in subscription:
            self.received.append(event)
            self.changed.set()
            self.changed = anyio.Event()

    def begin_shutdown(self) -> None:
        pass


class BridgeTestPlugin:
    def __init__(self, scenario: Path, data_dir: Path) -> None:
        self.scenario = scenario
        self.data_dir = data_dir
        self.sink = CollectingSink()
        self.sessions: list[BridgeSession] = []

    def create_session(self, config: SessionConfig) -> BridgeSession:
        session = BridgeSession(config, lambda c: CountingTranslator(c.name), self.data_dir,
                                command=[sys.executable, str(FAKE_BRIDGE), str(self.scenario)],
                                settings=BridgeSettings(data_dir=str(self.data_dir)))
        self.sessions.append(session)
        return session

    @hookimpl
    def hookwire_register_engines(self, registry: Registry) -> None:
        registry.add_engine(EngineType(name="TEST", create_session=self.create_session,
                                       create_translator=lambda s, me_id, me_lid: CountingTranslator(s)))

    @hookimpl
    def hookwire_register_sinks(self, registry: Registry) -> None:
        registry.add_sink(self.sink)


async def test_the_kernel_runs_a_bridge_session_and_stops_its_process(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps([[count("a"), count("b"), {"wait": True}]]))
    config = tmp_path / "hookwire.toml"
    config.write_text('[[sessions]]\nname = "k"\nengine = "TEST"\nsource = "bridge"\n'
                      'metadata = { "team" = "ops" }\n')
    plugin = BridgeTestPlugin(scenario, tmp_path / "data")
    app = App.load(entry_points=False, extra_plugins=[("bridge-test", plugin)])
    app.load_config(config, environ={})
    kernel = Kernel(app)
    stop = anyio.Event()
    sink = plugin.sink

    def counts() -> list[Any]:
        return [e.payload.data["tag"] for e in sink.received if e.name == "engine.event"]

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.run, stop)
            while counts() != ["a", "b"]:
                await sink.changed.wait()
            (session,) = plugin.sessions
            pid = session.pid
            assert pid is not None and running(pid)
            stop.set()
    assert [e.name for e in sink.received] == ["session.status", "engine.event", "engine.event"]
    assert all(e.session == "k" and e.engine == "TEST" and e.metadata == {"team": "ops"}
               for e in sink.received)
    assert not running(pid)
    commands = (session.auth_dir / "commands.jsonl").read_text().splitlines()
    assert [json.loads(c) for c in commands] == [{"cmd": "stop"}]
    assert session.exit_codes == [0]
