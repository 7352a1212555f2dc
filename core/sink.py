"""What a sink plugin provides: a consumer of bus events, run and supervised by the kernel."""

from __future__ import annotations

from typing import Protocol

from anyio.abc import TaskStatus

from core.bus import Overflow, Subscription


class Sink(Protocol):
    #: Unique name, used in logs and ``python -m core plugins``.
    name: str
    #: Event names this sink subscribes to (``*`` for all but ``engine.event``).
    events: frozenset[str]
    #: ``block`` for sinks that must not lose events, ``drop`` for observers.
    overflow: Overflow

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        """Consume ``subscription``; call ``task_status.started()`` once ready.

        Return once the subscription has ended (the bus closed) and every accepted event has
        reached a final state. The kernel keeps the subscription across restarts, so a crash
        loses nothing that was already buffered. Raising makes the kernel log and re-run it.
        """
        ...

    def begin_shutdown(self) -> None:
        """The process is stopping (SIGINT/SIGTERM): start no new work, let in-flight work
        finish; ``run`` should then return soon. Undelivered work must stay recoverable."""
        ...
