"""A scripted engine and collecting sinks for the kernel's tests (registered as plugins with
``App.load(extra_plugins=...)``, the way real ones are).

A session of engine ``SCRIPT`` reads its ``replay`` file: one JSON object per line,
``{"emit": NAME, "body": TEXT}`` emits event NAME with a message payload, ``{"crash": TEXT}``
raises the first time it is reached (the session keeps its position, so a restart goes on after
it), ``{"crash_always": TEXT}`` raises every time, ``{"hold": true}`` waits until cancelled (a
live source). Engine ``UNBUILDABLE`` fails in ``create_session``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from core import hookimpl
from core.bus import Overflow, Subscription
from core.config import SessionConfig
from core.engine import Emission, EngineType, SessionContext
from core.events import Envelope
from core.payloads import MessagePayload


class ScriptedSession:
    def __init__(self, config: SessionConfig) -> None:
        assert config.replay is not None
        self.lines = [json.loads(line) for line in Path(config.replay).read_text().splitlines()
                      if line.strip()]
        self.position = 0
        self.runs = 0
        self.crashed: set[int] = set()
        self._run_waiters: list[tuple[int, anyio.Event]] = []

    async def wait_runs(self, count: int) -> None:
        """Return once ``run`` has been called ``count`` times (restarts included)."""
        reached = anyio.Event()
        self._run_waiters.append((count, reached))
        if self.runs >= count:
            reached.set()
        await reached.wait()

    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        self.runs += 1
        for count, reached in self._run_waiters:
            if self.runs >= count:
                reached.set()
        task_status.started()
        while self.position < len(self.lines):
            step = self.lines[self.position]
            if "crash_always" in step:
                raise RuntimeError(step["crash_always"])
            if "crash" in step and self.position not in self.crashed:
                self.crashed.add(self.position)
                raise RuntimeError(step["crash"])
            if step.get("hold"):
                await anyio.sleep_forever()
            if "emit" in step:
                await ctx.emit(Emission(step["emit"], MessagePayload(body=step.get("body"))))
            self.position += 1


class ScriptedEngine:
    """The plugin object: registers the ``SCRIPT`` and ``UNBUILDABLE`` engines."""

    def __init__(self) -> None:
        self.sessions: dict[str, ScriptedSession] = {}

    def _create(self, config: SessionConfig) -> ScriptedSession:
        session = ScriptedSession(config)
        self.sessions[config.name] = session
        return session

    @staticmethod
    def _unbuildable(config: SessionConfig) -> Any:
        raise ValueError(f"cannot build session {config.name!r}")

    @hookimpl
    def hookwire_register_engines(self, registry: Any) -> None:
        registry.add_engine(EngineType(name="SCRIPT", create_session=self._create,
                                       create_translator=_no_translator))
        registry.add_engine(EngineType(name="UNBUILDABLE", create_session=self._unbuildable,
                                       create_translator=_no_translator))


def _no_translator(session: str, me_id: str | None, me_lid: str | None) -> Any:
    raise NotImplementedError


class CollectingSink:
    """Keeps every event it receives; optionally crashes once on a body, stalls on shutdown.

    ``wait_for(n)`` returns once ``n`` events arrived. With ``linger`` the sink keeps "work in
    flight" after the end of the stream until ``begin_shutdown`` (or never, with ``stubborn``).
    """

    def __init__(self, name: str, events: Iterable[str] = ("*",), overflow: Overflow = "block",
                 crash_on: str | None = None, linger: bool = False, stubborn: bool = False) -> None:
        self.name = name
        self.events = frozenset(events)
        self.overflow = overflow
        self.crash_on = crash_on
        self.linger = linger
        self.stubborn = stubborn
        self.received: list[Envelope] = []
        self.runs = 0
        self.shutdown_called = False
        self.finished = False
        self._shutdown = anyio.Event()
        self._arrivals: list[tuple[int, anyio.Event]] = []

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        self.runs += 1
        task_status.started()
        async for event in subscription:
            self.received.append(event)
            for count, arrived in self._arrivals:
                if len(self.received) >= count:
                    arrived.set()
            body = getattr(event.payload, "body", None)
            if body is not None and body == self.crash_on:
                self.crash_on = None
                raise RuntimeError(f"sink {self.name} crashed on {body}")
        if self.linger:
            if self.stubborn:
                await anyio.sleep_forever()
            await self._shutdown.wait()
        self.finished = True

    def begin_shutdown(self) -> None:
        self.shutdown_called = True
        self._shutdown.set()

    async def wait_for(self, count: int) -> None:
        arrived = anyio.Event()
        self._arrivals.append((count, arrived))
        if len(self.received) >= count:
            arrived.set()
        await arrived.wait()

    def bodies(self) -> list[str | None]:
        return [getattr(e.payload, "body", None) for e in self.received]

    def summary(self) -> dict[str, Any]:
        return {"received": len(self.received)}


class SinkPlugin:
    """The plugin object that registers the given sinks."""

    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks

    @hookimpl
    def hookwire_register_sinks(self, registry: Any) -> None:
        for sink in self.sinks:
            registry.add_sink(sink)


def write_script(path: Path, steps: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(step) + "\n" for step in steps))
    return path


def emits(*bodies: str, name: str = "message") -> list[dict[str, Any]]:
    return [{"emit": name, "body": body} for body in bodies]
