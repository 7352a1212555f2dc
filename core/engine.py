"""What an engine plugin provides to the kernel, and what the kernel gives a session.

An engine plugin registers an :class:`EngineType` (``registry.add_engine``). The kernel
creates one :class:`EngineSession` per configured session and supervises its ``run``; the
``translate`` command uses :meth:`EngineType.create_translator` on its own. Engines never
know which sinks exist: they hand :class:`Emission` objects to :meth:`SessionContext.emit`.

An engine session may also take commands (:class:`CommandTarget`: a pairing code, logout, the
session's own account, later sends) and report its health (:class:`HealthReporter`). Both are
optional: services find them on ``kernel.engine_sessions[name]`` with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec
from anyio.abc import TaskStatus

from core.config import SessionConfig
from core.events import Envelope, Me


class Emission(msgspec.Struct, frozen=True):
    """One normalized event produced by a translator: the event name and its typed payload.

    ``key``: the event's stable identity, when the native event has one (a message's id with
    the event name, an ack with its level ...): the same event sent again (a phone re-sending
    after a reconnect) has the same key, so its envelope gets the same id
    (:func:`core.events.make_event`). ``None``: the envelope gets a new id."""

    name: str
    payload: Any
    key: str | None = None


class RecordTranslator(Protocol):
    """Maps native records of one session to emissions, keeping that session's state.

    ``translate_line`` decodes one JSON line. It never raises for bad input: a bad record is
    logged (engine, session, position, type, what was wrong), counted in ``bad_records`` and
    gives ``[]``.
    """

    bad_records: int
    #: The session's own name (``me.pushName``), when known; may be set from outside.
    me_push_name: str | None

    def translate_line(self, line: bytes | str, position: str) -> list[Emission]: ...

    @property
    def me(self) -> Me | None:
        """The session's own account once known (from config or from the records)."""
        ...


class SessionContext(Protocol):
    """Handed to :meth:`EngineSession.run` by the kernel."""

    session: str
    engine: str
    config: SessionConfig
    #: The kernel's data directory (``[kernel] data_dir`` or ``HOOKWIRE_DATA_DIR``).
    data_dir: Path

    async def emit(self, emission: Emission, me: Me | None = None, *,
                   event_id: str | None = None) -> Envelope | None:
        """Wrap ``emission`` in an envelope (id, timestamp, me, metadata, environment) and
        publish it on the bus. Waits when a ``block`` subscriber is full (backpressure).
        An unregistered event name is logged and dropped (``None``). ``event_id``: the id a
        re-readable source chose (a replay's, the same at every run of the same run record);
        else it comes from ``emission.key``, else it is new."""
        ...

    async def events_stored(self, event_ids: list[str]) -> set[str] | None:
        """Of ``event_ids``, those every sink that must not lose events has stored (a resumed
        replay skips them); ``None`` when that cannot be known."""
        ...


class EngineSession(Protocol):
    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        """Run the session: call ``task_status.started()`` once the source is open, then emit
        until the source ends (a replay) or the task is cancelled (a live bridge). Raising
        makes the kernel log the crash and run it again after a backoff.

        Optional members the kernel uses when present: ``progress()`` and ``skip_stuck()``
        (:class:`core.supervisor.Resumable`: skip what the session keeps crashing on),
        ``async report_failure(ctx, error)`` (the session was given up: say so, e.g. emit
        ``session.status`` ``FAILED``), ``close_run(stopped=...)`` (everything it emitted is
        stored, or it was stopped on request: a replay ends its run)."""
        ...


class EngineType(msgspec.Struct, frozen=True):
    """An engine, as registered by its plugin.

    ``name`` is what sessions and envelopes carry (``WEBJS``, ``NOWEB``).
    ``create_session(config)`` makes a session runner; ``create_translator(session, me_id,
    me_lid)`` a fresh translator of a just-started session (status ``STARTING``).
    """

    name: str
    create_session: Callable[[SessionConfig], EngineSession]
    create_translator: Callable[[str, str | None, str | None], RecordTranslator]
    description: str = ""


#: The codes of :class:`CommandError`, with what an HTTP API answers for each.
COMMAND_ERROR_CODES = frozenset({"not_working", "unsupported", "timeout", "busy", "gone", "failed",
                                 "invalid"})


class CommandError(Exception):
    """A command the session could not carry out. ``code`` is one of:

    - ``not_working``: the session status is not ``WORKING`` (WAHA answers 422 for this);
    - ``unsupported``: this engine or its library cannot do it (501, naming the engine);
    - ``timeout``: no answer in time (504);
    - ``busy``: too many commands in flight (429/503);
    - ``gone``: the bridge died or restarted while the command was in flight (502/503);
    - ``failed``: the library refused; ``message`` carries the library's reason (500, or 422
      as WAHA does);
    - ``invalid``: bad arguments (422).
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in COMMAND_ERROR_CODES:
            raise ValueError(f"unknown CommandError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@runtime_checkable
class CommandTarget(Protocol):
    """An engine session that takes commands (``pairing-code``, ``logout``, ``stop``, ``me``...)."""

    async def request(self, command: str, args: dict[str, Any], *,
                      timeout: float | None = None) -> Any:
        """Send one command to the engine and wait for its answer (a JSON value: the
        library's result), or raise :class:`CommandError`. ``timeout`` (seconds) replaces the
        engine's default."""
        ...


@runtime_checkable
class SandboxTarget(Protocol):
    """A session without a phone (``source = "sandbox"``): messages can be injected as if
    someone sent them, and what it emitted can be read back as a recording."""

    async def inject(self, args: dict[str, Any]) -> str:
        """Emit an incoming message (``from``, ``text``, ``participant``, ``pushName``,
        ``reply_to``, ``media``, ``reaction``, ``id``) as the engine's records; its message id
        (WAHA's format). Raises :class:`CommandError` (``invalid``, ``failed``,
        ``not_working``)."""
        ...

    def recording(self) -> bytes:
        """The native records it made, as a JSONL recording (oldest first)."""
        ...


class SessionHealth(msgspec.Struct, kw_only=True):
    """How a live session is doing, for the session resource and ``/health``."""

    #: Bridge restarts of this session (any cause).
    restarts: int = 0
    #: Watchdog restarts: a WORKING bridge that went silent past the stall limit.
    stalls: int = 0
    #: The last failure, in words (the library's reason where there is one).
    last_error: str | None = None
    #: When ``last_error`` happened, Unix ms.
    last_error_at: int | None = None
    #: The session gave up (``session.status`` ``FAILED`` was emitted) and is not restarted.
    failed: bool = False
    #: Unix ms of the last record or heartbeat from the engine.
    last_activity_at: int | None = None


@runtime_checkable
class HealthReporter(Protocol):
    """An engine session that reports its :class:`SessionHealth`."""

    def health(self) -> SessionHealth: ...


EmitFn = Callable[[Emission], Awaitable[Envelope]]
