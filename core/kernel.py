"""The kernel: one task group running the sinks and the engine sessions, supervised.

Start-up: every sink subscribes to the bus *before* any session starts (no event is published
to nobody), then sinks start, then sessions; readiness flows through ``task_status``.
Shut-down: when ``stop`` is set (SIGINT/SIGTERM) or, with ``exit_when_done``, when every
session's source has ended: sessions are cancelled (intake stops), the bus is closed, and
sinks finish. On a signal, sinks are told to start no new work and get ``grace_seconds`` for
what is in flight; otherwise they run until every delivery is final.

Supervision (:mod:`core.supervisor`): a session or sink that crashes is restarted with a
backoff; one that keeps crashing without progress is skipped past what it is stuck on (an
engine session that implements :class:`core.supervisor.Resumable`, such as a replay) or given
up. A session given up is told so (its optional ``report_failure(ctx, error)``: a replay emits
``session.status`` ``FAILED``) and ends; a ``block`` sink given up stops the kernel (intake
stops, nothing more can be stored), a ``drop`` sink is only unsubscribed. ``failed_units``
names them; the CLI then exits with status 1.

Sessions can also be started and stopped while the kernel runs (:meth:`Kernel.start_session`,
:meth:`Kernel.stop_session`, used by the HTTP API): each runs in the same supervised task group
as the configured ones, under a cancel scope of its own. The kernel keeps running with no
session at all; only ``exit_when_done`` ends it when the last session has ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from core.app import App
from core.bus import Bus, Subscription
from core.config import SessionConfig
from core.engine import Emission, EngineSession
from core.events import Envelope, Me, environment, make_event
from core.logging import get_logger
from core.metrics import UNKNOWN_EVENTS, count_event_in
from core.sink import Sink
from core.supervisor import Backoff, Resumable, supervise

log = get_logger(__name__)


class SessionError(Exception):
    """A session cannot be started or stopped as asked (the message says why)."""


class SessionAlreadyRunning(SessionError):
    pass


class SessionNotRunning(SessionError):
    pass


class KernelNotRunning(SessionError):
    pass


class RunningSession:
    """A session the kernel runs: its config, the scope that stops it, and when it ended."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()


class Stats:
    def __init__(self) -> None:
        self.events_in: Counter[tuple[str, str]] = Counter()  # (event name, engine)
        self.unknown_events = 0

    @property
    def events_total(self) -> int:
        return sum(self.events_in.values())


class KernelSessionContext:
    """What a running engine session sees of the kernel (:class:`core.engine.SessionContext`)."""

    def __init__(self, kernel: Kernel, config: SessionConfig) -> None:
        self.kernel = kernel
        self.config = config
        self.session = config.name
        self.engine = config.engine
        #: Where an engine keeps durable state of its own (a live bridge's auth state).
        self.data_dir = kernel.app.config.data_dir
        self._env = environment(config.engine, kernel.app.config.core.kernel.worker_id)
        self._me = Me(id=config.me_id, pushName=config.me_push_name) if config.me_id else None

    async def emit(self, emission: Emission, me: Me | None = None, *,
                   event_id: str | None = None) -> Envelope | None:
        if emission.name not in self.kernel.app.registry.event_types:
            # An engine bug, not bad input: log and count it, never crash-loop on one record.
            self.kernel.stats.unknown_events += 1
            UNKNOWN_EVENTS.inc()
            log.error("engine emitted an unregistered event name, dropped", event_name=emission.name,
                      unknown_events=self.kernel.stats.unknown_events)
            return None
        event = make_event(
            self.kernel.app.registry.event_types,
            emission.name,
            emission.payload,
            session=self.session,
            engine=self.engine,
            env=self._env,
            me=me or self._me,
            metadata=self.config.metadata,
            key=emission.key,
            event_id=event_id,
        )
        self.kernel.stats.events_in[(emission.name, self.engine)] += 1
        count_event_in(emission.name, self.engine)
        if emission.name == "session.status":
            self.kernel.note_status(self.session, emission.payload)
        await self.kernel.bus.publish(event)
        return event

    async def events_stored(self, event_ids: list[str]) -> set[str] | None:
        return await self.kernel.events_stored(event_ids)


class Kernel:
    def __init__(
        self,
        app: App,
        *,
        sessions: list[SessionConfig] | None = None,
        exit_when_done: bool | None = None,
        restart_backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.app = app
        #: Makes the backoff of each supervised unit (tests pass a tiny one).
        self.restart_backoff = restart_backoff
        config = app.config
        self.sessions = [s for s in (config.core.sessions if sessions is None else sessions) if s.enabled]
        kernel_cfg = config.core.kernel
        self.exit_when_done = kernel_cfg.exit_when_done if exit_when_done is None else exit_when_done
        self.grace_seconds = kernel_cfg.grace_seconds
        self.bus = Bus(kernel_cfg.bus_buffer)
        self.stats = Stats()
        #: The engine session objects, by session name; kept after a session ended (for its
        #: counters), replaced when it is started again.
        self.engine_sessions: dict[str, EngineSession] = {}
        self.stopped_by_signal = False
        #: Units given up by their supervisor (``session NAME``, ``sink NAME``).
        self.failed_units: list[str] = []
        #: Set when a ``block`` sink was given up: the kernel stops.
        self._fatal = anyio.Event()
        #: The last ``session.status`` of each session, by name (for metrics).
        self.session_statuses: dict[str, str] = {}
        #: Sessions running now, by name (the configured ones and those started at run time).
        self._running: dict[str, RunningSession] = {}
        self._sessions_tg: TaskGroup | None = None
        self._intake_stopping = False
        #: Set once the configured sessions have started: :meth:`start_session` works from then on.
        self.sessions_ready = anyio.Event()
        #: Set when no session runs any more, after start-up (``exit_when_done``).
        self._no_session_left = anyio.Event()
        #: The ``stop`` event of the current :meth:`run` (see :meth:`request_stop`).
        self._stop: anyio.Event | None = None
        app.registry.kernel = self

    @property
    def sinks(self) -> list[Sink]:
        return self.app.registry.sinks

    async def _run_sink(self, sink: Sink, sub: Subscription, done: anyio.Event,
                        *, task_status: TaskStatus[None]) -> None:
        unit = f"sink {sink.name}"

        async def failed(error: str) -> None:
            self.failed_units.append(unit)
            if sink.overflow == "block":  # it must not lose events: stop taking any
                log.error("a sink that must not lose events failed: stopping", error=error)
                self._fatal.set()

        with structlog.contextvars.bound_contextvars(plugin=sink.name):
            try:
                await supervise(unit, partial(_call_run, sink.run, sub),
                                backoff=self.restart_backoff(), task_status=task_status,
                                progress=sink if isinstance(sink, Resumable) else None,
                                on_failed=failed)
                if not self.bus.closed and unit not in self.failed_units:
                    log.warning("sink returned before the bus closed, unsubscribed")
            finally:
                # Leave the bus: a sink that is done must not hold a ``block`` publisher back,
                # and its stream must be closed, not left to the garbage collector.
                sub.close()
                done.set()

    async def _run_session(self, cfg: SessionConfig, *, task_status: TaskStatus[None]) -> None:
        engine = self.app.registry.engines[cfg.engine]
        ctx = KernelSessionContext(self, cfg)

        async def run_session(task_status: TaskStatus[None]) -> None:
            # Built under supervision: an engine that fails to build one session is logged and
            # retried like a crash, and never takes the other sessions down. Built once: a
            # restart re-runs the same object (a replay resumes where it was).
            session = self.engine_sessions.get(cfg.name)
            if session is None:
                session = self.engine_sessions[cfg.name] = engine.create_session(cfg)
            await session.run(ctx, task_status=task_status)

        unit = f"session {cfg.name}"

        async def failed(error: str) -> None:
            self.failed_units.append(unit)
            report = getattr(self.engine_sessions.get(cfg.name), "report_failure", None)
            if report is not None:
                try:
                    await report(ctx, error)
                except Exception as exc:
                    log.error("cannot report the session as failed", error=f"{type(exc).__name__}: {exc}")

        with structlog.contextvars.bound_contextvars(session=cfg.name, engine=cfg.engine):
            log.info("session starting", source=cfg.source)
            await supervise(unit, run_session, backoff=self.restart_backoff(), task_status=task_status,
                            progress=_SessionProgress(self, cfg.name), on_failed=failed)
            log.info("session ended")

    def note_status(self, session: str, payload: Any) -> None:
        status = payload.get("status") if isinstance(payload, dict) else getattr(payload, "status", None)
        if isinstance(status, str):
            self.session_statuses[session] = status

    # -- sessions at run time ---------------------------------------------------------------

    def session_names(self) -> list[str]:
        """The sessions running now."""
        return list(self._running)

    def session_config(self, name: str) -> SessionConfig | None:
        """The config of a running session, or ``None``."""
        entry = self._running.get(name)
        return entry.config if entry is not None else None

    async def start_session(self, cfg: SessionConfig) -> None:
        """Start ``cfg`` as a supervised session of the running kernel; return once its source
        is open. A session of that name that ended before is built anew (a replay starts over).

        Raises :class:`SessionAlreadyRunning`, :class:`KernelNotRunning` (before start-up
        finished or once intake stops) or :class:`SessionError` for an unknown engine."""
        if self._sessions_tg is None or self._intake_stopping or self.bus.closed:
            raise KernelNotRunning("the kernel is not running sessions (starting up or stopping)")
        if cfg.name in self._running:
            raise SessionAlreadyRunning(f"session {cfg.name!r} is already running")
        if cfg.engine not in self.app.registry.engines:
            known = ", ".join(sorted(self.app.registry.engines)) or "none loaded"
            raise SessionError(f"unknown engine {cfg.engine!r} (known: {known})")
        entry = self._running[cfg.name] = RunningSession(cfg)
        self.engine_sessions.pop(cfg.name, None)
        self.session_statuses.pop(cfg.name, None)
        await self._sessions_tg.start(self._session_unit, entry)

    async def stop_session(self, name: str) -> None:
        """Cancel session ``name`` and wait until it has ended (a live bridge stops its
        process tree first). Raises :class:`SessionNotRunning`."""
        entry = self._running.get(name)
        if entry is None:
            raise SessionNotRunning(f"session {name!r} is not running")
        entry.scope.cancel()
        await entry.done.wait()
        self._close_run(name, stopped=True)

    def _close_run(self, name: str, *, stopped: bool) -> None:
        """Tell session ``name`` (its optional ``close_run(stopped=...)``) that what it emitted
        is stored (the kernel stopped cleanly) or that it was stopped on request: a replay then
        ends its run, and the next one of that name and file gets new ids."""
        close = getattr(self.engine_sessions.get(name), "close_run", None)
        if close is not None:
            try:
                close(stopped=stopped)
            except Exception as exc:
                log.error("cannot close the session's run", session=name,
                          error=f"{type(exc).__name__}: {exc}")

    async def _session_unit(self, entry: RunningSession, *, task_status: TaskStatus[None]) -> None:
        # A session started at run time inherits its starter's log context (e.g. the API
        # sink's ``plugin``): this task's own copy, so dropping it here changes nothing else.
        structlog.contextvars.unbind_contextvars("plugin")
        started = False

        class _Once:
            def started(self, value: None = None) -> None:
                nonlocal started
                if not started:
                    started = True
                    task_status.started()

        try:
            with entry.scope:
                await self._run_session(entry.config, task_status=_Once())  # type: ignore[arg-type]
            if entry.scope.cancelled_caught:
                with structlog.contextvars.bound_contextvars(session=entry.config.name,
                                                             engine=entry.config.engine):
                    log.info("session stopped")
        finally:
            if self._running.get(entry.config.name) is entry:
                del self._running[entry.config.name]
            entry.done.set()
            if not self._running and self.sessions_ready.is_set():
                self._no_session_left.set()
        _Once().started()  # stopped before its source opened: the starter must not wait

    def request_stop(self, *, force: bool = False) -> bool:
        """Stop the running kernel as SIGTERM does (``force``: with no grace period for
        in-flight deliveries; they stay in the store). For services that can be told to stop
        (the API's ``POST /api/server/stop``). False when it is not running."""
        if self._stop is None:
            return False
        if force:
            self.grace_seconds = 0.0
        self._stop.set()
        return True

    async def run(self, stop: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._stop = stop
        subscriptions = [(sink, self.bus.subscribe(sink.name, sink.events, overflow=sink.overflow))
                         for sink in self.sinks]
        sinks_done = [anyio.Event() for _ in subscriptions]
        sessions_done = anyio.Event()
        session_scope = anyio.CancelScope()

        async def run_sessions(*, task_status: TaskStatus[None]) -> None:
            try:
                with session_scope:
                    async with anyio.create_task_group() as sessions_tg:
                        for cfg in self.sessions:
                            entry = self._running[cfg.name] = RunningSession(cfg)
                            await sessions_tg.start(self._session_unit, entry)
                        self._sessions_tg = sessions_tg
                        self.sessions_ready.set()
                        if not self._running:
                            self._no_session_left.set()
                        task_status.started()
                        await anyio.sleep_forever()  # open for sessions started at run time
            finally:
                self._sessions_tg = None
                sessions_done.set()

        async with anyio.create_task_group() as tg:
            for (sink, sub), done in zip(subscriptions, sinks_done, strict=True):
                await tg.start(self._run_sink, sink, sub, done)
            await tg.start(run_sessions)
            log.info("kernel ready", sessions=len(self.sessions), sinks=[s.name for s in self.sinks])
            task_status.started()

            await _first_of(stop.wait, self._fatal.wait,
                            self._no_session_left.wait if self.exit_when_done else None)
            self.stopped_by_signal = stop.is_set()
            self._intake_stopping = True
            session_scope.cancel()
            await sessions_done.wait()
            self.bus.close()  # stop intake; sinks see end of stream after what is buffered
            log.info("intake stopped", events=self.stats.events_total,
                     reason="signal" if self.stopped_by_signal
                     else "a sink failed" if self._fatal.is_set() else "sources ended")

            all_sinks_done = partial(_wait_all, sinks_done)
            if not self.stopped_by_signal:
                await _first_of(all_sinks_done, stop.wait)
            if not all(d.is_set() for d in sinks_done):
                self.stopped_by_signal = True
                for sink in self.sinks:
                    sink.begin_shutdown()
                with anyio.move_on_after(self.grace_seconds) as grace:
                    await all_sinks_done()
                if grace.cancelled_caught:
                    log.warning("grace period over, stopping with work in flight",
                                grace_seconds=self.grace_seconds)
            if all(d.is_set() for d in sinks_done) and not self._fatal.is_set():
                for name in list(self.engine_sessions):  # every sink took all it was given
                    self._close_run(name, stopped=False)
            tg.cancel_scope.cancel()
        log.info("kernel stopped", events=self.stats.events_total)

    async def events_stored(self, event_ids: list[str]) -> set[str] | None:
        """Of ``event_ids``, those stored by every ``block`` sink (which must not lose events;
        their optional ``stored_event_ids(ids)`` says), or ``None`` when one of them cannot
        tell. With no ``block`` sink, nothing needs them: all of them."""
        stored: set[str] | None = set(event_ids)
        for sink in self.sinks:
            if sink.overflow != "block":
                continue
            ask = getattr(sink, "stored_event_ids", None)
            if ask is None:
                return None
            stored &= await ask(event_ids)
        return stored

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {"events": self.stats.events_total}
        for sink in self.sinks:
            summary = getattr(sink, "summary", None)
            if summary is not None:
                result[sink.name] = summary()
        return result


class _SessionProgress:
    """The progress of a session for its supervisor: its engine session object's, when it is
    :class:`Resumable` (built under supervision, so looked up at each crash)."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name

    def _session(self) -> Resumable | None:
        session = self.kernel.engine_sessions.get(self.name)
        return session if isinstance(session, Resumable) else None

    def progress(self) -> Any:
        session = self._session()
        return session.progress() if session is not None else None

    def skip_stuck(self) -> str | None:
        session = self._session()
        return session.skip_stuck() if session is not None else None


async def _call_run(method: Any, arg: Any, task_status: TaskStatus[None]) -> None:
    await method(arg, task_status=task_status)


async def _wait_all(events: list[anyio.Event]) -> None:
    for event in events:
        await event.wait()


async def _first_of(*waits: Any) -> None:
    """Return as soon as one of the given ``async`` callables returns (``None`` ones are skipped)."""
    async with anyio.create_task_group() as tg:
        async def wait_then_cancel(fn: Any) -> None:
            await fn()
            tg.cancel_scope.cancel()

        for fn in waits:
            if fn is not None:
                tg.start_soon(wait_then_cancel, fn)
