"""Supervision: run a unit, and when it crashes log it and run it again after a backoff.

A crash of one engine session or sink never takes down the others. The first start reports
readiness through ``task_status``; a unit that returns normally is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskStatus

from core.logging import get_logger

log = get_logger(__name__)

Runner = Callable[[TaskStatus[None]], Awaitable[None]]


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


async def supervise(
    unit: str,
    runner: Runner,
    *,
    backoff: Backoff | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    backoff = backoff or Backoff()
    started = False
    restarts = 0

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
            restarts += 1
            delay = backoff.next_delay(anyio.current_time() - began)
            log.error("unit crashed, restarting", unit=unit, error=f"{type(exc).__name__}: {exc}",
                      restarts=restarts, restart_in_s=delay, exc_info=True)
            if not started:  # readiness must not wait for a unit that keeps crashing
                _Status().started()
            await anyio.sleep(delay)
            continue
        if not started:
            _Status().started()
        return
