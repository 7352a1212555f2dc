"""Which dispatching processes share a SQLite store, and which of them are alive.

Each dispatching process (role ``all`` or ``worker``) registers under an id of its own and
holds an exclusive ``flock`` on ``<store>.dispatchers/<id>.lock`` for as long as it runs; its
claims (``in_flight`` rows) carry that id. The kernel releases the lock the moment the process
ends, however it ends (``kill -9`` included), so "alive" is exact and needs no heartbeat: a
dispatcher whose lock can be taken is gone, and its claims can be given back at once. A
SQLite file lives on one host (WAL needs shared memory), so every dispatcher of a store sees
the same lock files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from core.ulid import new_ulid


class DispatcherRegistry:
    def __init__(self, store_path: Path) -> None:
        self.directory = store_path.with_name(store_path.name + ".dispatchers")
        self.id: str | None = None
        self._fd: int | None = None
        self._seen_mtime: int | None = None

    def _lock_file(self, dispatcher_id: str) -> Path:
        return self.directory / f"{dispatcher_id}.lock"

    def register(self) -> str:
        """This process's id, registered (and locked) on the first call."""
        if self.id is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            dispatcher_id = "dsp_" + new_ulid()
            # Locked under a name nobody looks at, then renamed into place: another process
            # never finds the file unlocked (it would take it for a gone dispatcher's).
            staging = self.directory / f".{dispatcher_id}.new"
            fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: never contended
            os.write(fd, f"pid {os.getpid()}\n".encode())
            os.rename(staging, self._lock_file(dispatcher_id))
            self.id, self._fd = dispatcher_id, fd
        return self.id

    def alive(self, dispatcher_id: str | None) -> bool:
        """Whether the dispatcher holding claims under ``dispatcher_id`` still runs (``None``:
        claims written before dispatchers had ids, whose owner is gone by now)."""
        if dispatcher_id is None:
            return False
        if dispatcher_id == self.id:
            return True
        path = self._lock_file(dispatcher_id)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock if it was taken
        _unlink(path)  # gone: its file is left over from a kill
        return False

    def live(self) -> list[str]:
        """The ids of every live dispatcher of the store (this one included once
        registered), sorted: every dispatcher computes the same shares from it."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return [self.id] if self.id else []
        found = {name.removesuffix(".lock") for name in names if name.endswith(".lock")}
        if self.id:
            found.add(self.id)
        return sorted(i for i in found if self.alive(i))

    def holder(self, dispatcher_id: str) -> str:
        """What a dispatcher's lock file says about it (``pid N``), or ``""``."""
        try:
            return self._lock_file(dispatcher_id).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def changed(self) -> bool:
        """Whether a dispatcher came or went (cleanly) since the last call: one ``stat`` of
        the directory, cheap enough to ask ten times a second."""
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        changed, self._seen_mtime = mtime != self._seen_mtime, mtime
        return changed

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self.id is not None:
            _unlink(self._lock_file(self.id))
            os.close(fd)
        self.id = None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
