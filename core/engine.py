"""What an engine plugin provides to the kernel, and what the kernel gives a session.

An engine plugin registers an :class:`EngineType` (``registry.add_engine``). The kernel
creates one :class:`EngineSession` per configured session and supervises its ``run``; the
``translate`` command uses :meth:`EngineType.create_translator` on its own. Engines never
know which sinks exist: they hand :class:`Emission` objects to :meth:`SessionContext.emit`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

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


EmitFn = Callable[[Emission], Awaitable[Envelope]]
