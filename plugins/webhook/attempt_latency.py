"""Durations of the attempts the dispatcher recorded in the SQLite store, read incrementally
(by rowid) for the API's latency histogram. Other backends report none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import anyio.to_thread


class AttemptLatencyReader:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.after_rowid: int | None = None
        self._limiter = anyio.CapacityLimiter(1)

    def _read(self) -> list[float]:
        assert self.path is not None
        first = self.after_rowid is None
        if not self.path.exists():
            self.after_rowid = self.after_rowid or 0
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            if first:  # count from now on: the attempts of this run
                row = conn.execute("SELECT MAX(rowid) FROM attempts").fetchone()
                self.after_rowid = row[0] or 0
                return []
            rows = conn.execute("SELECT rowid, duration_ms FROM attempts WHERE rowid > ?"
                                " ORDER BY rowid LIMIT 100000", (self.after_rowid,)).fetchall()
        except sqlite3.OperationalError:  # the store has no tables yet
            self.after_rowid = self.after_rowid or 0
            return []
        finally:
            conn.close()
        if rows:
            self.after_rowid = rows[-1][0]
        return [row[1] / 1000 for row in rows]

    async def update(self) -> None:
        """The first call (at start-up) only notes where to start."""
        await self.read()

    async def read(self) -> list[float]:
        """Seconds of each attempt recorded since the previous call."""
        if self.path is None:
            return []
        return await anyio.to_thread.run_sync(self._read, limiter=self._limiter)
