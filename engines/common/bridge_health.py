"""What a live session knows about its own health, and when it gives up.

:class:`BridgeHealth` counts restarts and stalls, keeps the last error, the time of the last
sign of life from the bridge, and the failed connection attempts: ``fail_after`` attempts that
never reached ``WORKING`` within ``fail_window`` seconds take the session to ``FAILED`` (a
run that reached ``WORKING`` starts the count over). ``fail_after = 0`` never gives up.
Times are kept on anyio's monotonic clock and turned into Unix ms when a snapshot is taken.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import anyio

from core.engine import SessionHealth


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BridgeHealth:
    def __init__(self, fail_after: int, fail_window: float,
                 clock: Callable[[], float] = anyio.current_time) -> None:
        self.fail_after = fail_after
        self.fail_window = fail_window
        self.clock = clock
        self.restarts = 0
        self.stalls = 0
        self.failed = False
        self.last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_activity: float | None = None
        self._failures: deque[float] = deque()

    def activity(self) -> None:
        """The bridge wrote something (a record, a heartbeat)."""
        self._last_activity = self.clock()

    def silent_for(self) -> float:
        """Seconds since the last sign of life (since :meth:`activity` was last called)."""
        return 0.0 if self._last_activity is None else self.clock() - self._last_activity

    def error(self, text: str) -> None:
        self.last_error = text
        self._last_error_at = self.clock()

    def connected(self) -> None:
        """A run reached ``WORKING``: earlier failed attempts no longer count."""
        self._failures.clear()

    def failed_attempt(self) -> bool:
        """Count one attempt that never reached ``WORKING``; True when that makes
        ``fail_after`` of them within ``fail_window`` seconds (time to give up)."""
        now = self.clock()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.fail_window:
            self._failures.popleft()
        return self.fail_after > 0 and len(self._failures) >= self.fail_after

    @property
    def recent_failures(self) -> int:
        return len(self._failures)

    def snapshot(self) -> SessionHealth:
        now, wall = self.clock(), _now_ms()

        def to_ms(at: float | None) -> int | None:
            return None if at is None else wall - int((now - at) * 1000)

        return SessionHealth(restarts=self.restarts, stalls=self.stalls,
                             last_error=self.last_error, last_error_at=to_ms(self._last_error_at),
                             failed=self.failed, last_activity_at=to_ms(self._last_activity))
