"""Supervision: run a unit, and when it crashes log it and run it again after a backoff.

A crash of one engine session or sink never takes down the others. The first start reports
readiness through ``task_status``; a unit that returns normally is done.

A unit that keeps crashing without progress is never restarted for ever. "Progress" is what
the unit says it is (:class:`Resumable`: a marker such as a replay's line number, and a way
to skip the record it is stuck on) or, for a unit that says nothing, staying up for
``backoff.reset_after`` seconds. After ``stuck_crashes`` crashes in a row without progress
the supervisor skips the record the unit keeps dying on (a warning, counted), or, when there
is nothing to skip, gives the unit up: one error line, ``on_failed`` is called, and
:func:`supervise` returns ``False``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol, runtime_checkable

import anyio
from anyio.abc import TaskStatus

from core.logging import get_logger

log = get_logger(__name__)

Runner = Callable[[TaskStatus[None]], Awaitable[None]]

#: Crashes in a row without progress before the supervisor skips or gives up: for a unit
#: with a progress marker (the same marker each time), and for one without (each crash
#: within ``reset_after`` seconds of its start; with the default backoff ~2 minutes).
STUCK_CRASHES = 3
STUCK_CRASHES_WITHOUT_MARKER = 10


@runtime_checkable
class Resumable(Protocol):
    """What a unit (an engine session, a sink) may tell its supervisor about its progress.
    The kernel uses these when the unit object has them."""

    def progress(self) -> Hashable | None:
        """A marker that changes whenever the unit moves on (a replay: its line and how many
        of that line's events are out). Equal markers at two crashes mean no progress;
        ``None``: the unit cannot tell (then its uptime is what counts)."""
        ...

    def skip_stuck(self) -> str | None:
        """Skip the record (or event) the unit is handling, so that its next run goes on
        after it; return where it was, for the log, or ``None`` when the unit was handling
        none (then it cannot be helped by skipping)."""
        ...


class Backoff:
    """Exponential backoff between restarts: ``initial`` doubling up to ``maximum``; reset
    after a unit stayed up for ``reset_after`` seconds."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, reset_after: float = 60.0):
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self.current = initial

    def next_delay(self, uptime: float) -> float:
        if uptime >= self.reset_after:
            self.current = self.initial
        delay = self.current
        self.current = min(self.current * 2, self.maximum)
        return delay


_NO_MARKER = object()


async def supervise(
    unit: str,
    runner: Runner,
    *,
    backoff: Backoff | None = None,
    progress: Resumable | None = None,
    stuck_crashes: int | None = None,
    on_failed: Callable[[str], Awaitable[None]] | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> bool:
    """Run ``runner`` until it returns (``True``) or is given up (``False``, see the module
    doc). ``progress``: the unit's own progress notion; ``on_failed(error)``: called once
    when it is given up, before :func:`supervise` returns."""
    backoff = backoff or Backoff()
    started = False
    restarts = 0
    stuck = 0  # crashes in a row without progress
    last_marker: object = _NO_MARKER
    skipped = 0

    class _Status:
        def started(self, value: None = None) -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

    while True:
        began = anyio.current_time()
        try:
            await runner(_Status())  # type: ignore[arg-type]
        except Exception as exc:
            uptime = anyio.current_time() - began
            error = f"{type(exc).__name__}: {exc}"
            marker = progress.progress() if progress is not None else None
            if marker is not None:
                stuck = stuck + 1 if marker == last_marker else 1
                last_marker = marker
                limit = stuck_crashes or STUCK_CRASHES
            else:
                stuck = stuck + 1 if uptime < backoff.reset_after else 1
                limit = stuck_crashes or STUCK_CRASHES_WITHOUT_MARKER
            if not started:  # readiness must not wait for a unit that keeps crashing
                _Status().started()
            if stuck >= limit:
                position = progress.skip_stuck() if progress is not None and marker is not None else None
                if position is None:
                    log.error("unit failed: it crashed again and again without progress; "
                              "it is not restarted", unit=unit, error=error, crashes=stuck,
                              exc_info=True)
                    if on_failed is not None:
                        await on_failed(error)
                    return False
                skipped += 1
                stuck, last_marker = 0, _NO_MARKER
                log.warning("skipped what the unit keeps crashing on", unit=unit, position=position,
                            error=error, crashes=limit, skipped=skipped, exc_info=True)
                continue  # at once: the next run starts after what it skipped
            restarts += 1
            delay = backoff.next_delay(uptime)
            log.error("unit crashed, restarting", unit=unit, error=error, restarts=restarts,
                      restart_in_s=delay, exc_info=True)
            await anyio.sleep(delay)
            continue
        if not started:
            _Status().started()
        return True
