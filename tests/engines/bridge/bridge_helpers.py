"""Helpers of the bridge tests: a small translator, a recording session context, a handle on
a :class:`BridgeSession` running the scripted fake bridge (imported as ``bridge_helpers``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from core.config import SessionConfig
from core.engine import Emission
from core.events import Envelope, Me, environment, make_event
from core.payloads import EngineEventPayload, MessagePayload
from engines.common.bridge import BridgeSession
from engines.common.records import BadRecord, NativeRecord
from engines.common.translator import BaseTranslator

FAKE_BRIDGE = Path(__file__).parent / "fake_bridge.py"


class CountingTranslator(BaseTranslator):
    """Maps ``{"type": "count", "data": {...}}`` to an ``engine.event`` carrying a running
    count (state that must carry across bridge restarts), ``{"type": "status", "data":
    "WORKING"}`` to a ``session.status`` through the status history, and ``{"type":
    "message", "data": {"id": MESSAGE_ID}}`` to a ``message``, ``{"type": "qr", "data": TEXT}`` to
    a ``state.change`` with that QR code (as NOWEB reports one); any other type is bad input."""

    engine = "TEST"

    def __init__(self, session: str) -> None:
        super().__init__(session)
        self.count = 0

    def start(self) -> list[Emission]:
        return self.status.set("STARTING")

    def map(self, record: NativeRecord, position: str) -> list[Emission]:
        if record.type == "status" and isinstance(record.data, str):
            return self.status.set(record.data)
        if record.type == "qr" and isinstance(record.data, str):
            return [Emission("state.change", {"qr": record.data})]
        if record.type == "message" and isinstance(record.data, dict):
            return [Emission("message", MessagePayload(id=record.data["id"], body="hi"))]
        if record.type != "count":
            raise BadRecord(f"unknown record type {record.type!r}")
        if not isinstance(record.data, dict):
            raise BadRecord("data must be an object")
        self.count += 1
        return [Emission("engine.event", EngineEventPayload(native_event="count",
                                                            data={"n": self.count, **record.data}))]


class RecordingContext:
    """A :class:`core.engine.SessionContext` that keeps what was emitted, as envelopes."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.session = config.name
        self.engine = config.engine
        self.envelopes: list[Envelope] = []
        self._changed = anyio.Event()

    async def emit(self, emission: Emission, me: Me | None = None, *,
                   event_id: str | None = None) -> Envelope:
        envelope = make_event(None, emission.name, emission.payload, session=self.session,
                              engine=self.engine, env=environment(self.engine, None), me=me,
                              key=emission.key, event_id=event_id)
        self.envelopes.append(envelope)
        self._changed.set()
        self._changed = anyio.Event()
        return envelope

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.envelopes]

    def counts(self) -> list[Any]:
        return [e.payload.data for e in self.envelopes if e.name == "engine.event"]

    async def wait_until(self, predicate: Callable[[RecordingContext], bool]) -> None:
        while not predicate(self):
            await self._changed.wait()


def count(tag: str) -> dict[str, Any]:
    """A step of the fake bridge writing one ``count`` record."""
    return {"record": {"type": "count", "data": {"tag": tag}, "ts": 1}}


def status(value: str) -> dict[str, Any]:
    """A step of the fake bridge writing a record that sets the session status."""
    return {"record": {"type": "status", "data": value}}


def working() -> list[dict[str, Any]]:
    """Steps of a fake bridge that connected: WORKING in its records and its heartbeats."""
    return [status("WORKING"), {"heartbeat": "WORKING"}]


class FakeBridge:
    """A :class:`BridgeSession` on the fake bridge, with its context and auth dir."""

    def __init__(self, session: BridgeSession, ctx: RecordingContext) -> None:
        self.session = session
        self.ctx = ctx
        self.auth_dir = session.auth_dir

    def commands(self) -> list[dict[str, Any]]:
        path = self.auth_dir / "commands.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def args(self) -> list[str]:
        return json.loads((self.auth_dir / "args.json").read_text())

    def detached_pid(self) -> int:
        return int((self.auth_dir / "detached.pid").read_text())


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not), read from /proc directly."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"
