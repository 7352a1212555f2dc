"""A bridge session run by the real kernel: events reach a sink through the bus, and stopping
the kernel stops the bridge process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web
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
from plugins.webhook import plugin as webhook_plugin
from tests.engines.waha_webhooks import validate


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
    """Registers an engine (``TEST`` unless told) whose sessions run the fake bridge, and a
    collecting sink."""

    def __init__(self, scenario: Path, data_dir: Path, engine: str = "TEST",
                 settings: dict[str, Any] | None = None) -> None:
        self.scenario = scenario
        self.data_dir = data_dir
        self.engine = engine
        self.settings = settings or {}
        self.sink = CollectingSink()
        self.sessions: list[BridgeSession] = []

    def create_session(self, config: SessionConfig) -> BridgeSession:
        session = BridgeSession(config, lambda c: CountingTranslator(c.name), self.data_dir,
                                command=[sys.executable, str(FAKE_BRIDGE), str(self.scenario)],
                                settings=BridgeSettings(data_dir=str(self.data_dir), **self.settings))
        self.sessions.append(session)
        return session

    @hookimpl
    def hookwire_register_engines(self, registry: Registry) -> None:
        registry.add_engine(EngineType(name=self.engine, create_session=self.create_session,
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


async def test_a_failed_session_is_delivered_as_wahas_session_status_envelope(tmp_path: Path) -> None:
    """FAILED after repeated connection failures, through the kernel, the webhook sink and a
    real HTTP delivery: the body is WAHA's ``session.status`` (waha-py's model)."""
    received: list[dict[str, Any]] = []
    got_failed = anyio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.append(body)
        if body["payload"]["status"] == "FAILED":
            got_failed.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps([[{"stderr": '{"level":"warn","msg":"connection closed",'
                                                '"error":"Connection Failure"}'}, {"exit": 75}]]))
    config = tmp_path / "hookwire.toml"
    config.write_text(f'[kernel]\ndata_dir = "{tmp_path / "store"}"\n'
                      '[[sessions]]\nname = "k"\nengine = "NOWEB"\nsource = "bridge"\n'
                      f'[[webhooks]]\nurl = "http://127.0.0.1:{port}/hook"\nevents = ["session.status"]\n')
    plugin = BridgeTestPlugin(scenario, tmp_path / "data", engine="NOWEB",
                              settings={"fail_after": 2, "backoff_initial": 0.01})
    hookwire = App.load(entry_points=False,
                        extra_plugins=[("webhook", webhook_plugin), ("bridge-test", plugin)])
    hookwire.load_config(config, environ={})
    kernel = Kernel(hookwire)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await tg.start(kernel.run, anyio.Event())
                await got_failed.wait()
                tg.cancel_scope.cancel()
    finally:
        await runner.cleanup()
    assert [b["payload"]["status"] for b in received] == ["STARTING", "FAILED"]
    failed = received[-1]
    validate(failed)
    assert failed["session"] == "k" and failed["engine"] == "NOWEB"
    assert [s["status"] for s in failed["payload"]["statuses"]] == ["STARTING", "FAILED"]
    (session,) = plugin.sessions
    assert session.health().failed and session.runs == 2
