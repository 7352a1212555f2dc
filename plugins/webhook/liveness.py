"""Whether a delivery service runs on a store, for the CLI's "who will send this?" answers.

- SQLite: a process that dispatches from the file holds an exclusive ``flock`` on
  ``<store>.worker.lock`` for as long as it runs (the lock file names its pid). The kernel
  drops the lock when the process ends, however it ends (``kill -9`` included), so a lock
  that cannot be taken always means a live service on this host. ``flock`` locks are per open
  file, so this also works between two stores of the same process.
- Redis: each worker renews ``<prefix>:alive:<consumer>`` with every claim (it expires after
  ``redis_reclaim_seconds``; a clean stop deletes it), so a live key is a live worker, give or
  take that many seconds after a ``kill -9``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import msgspec

from core.logging import get_logger

log = get_logger("plugins.webhook")


class ServiceState(msgspec.Struct, frozen=True):
    #: A delivery service (``all`` or ``worker`` role) runs on the store now.
    running: bool
    #: What was found, in words, for the operator.
    detail: str


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".worker.lock")


class WorkerLock:
    """The lock a dispatching process holds on its SQLite store (see the module doc)."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.path = lock_path(store_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; a lock held by another process is logged (one worker per SQLite file
        is the rule) and the service goes on without it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # only the CLI's answer depends on it: never stop the service
            log.warning("cannot create the worker lock file: `deliveries retry` will not see this "
                        "service", path=str(self.path), error=f"{type(exc).__name__}: {exc}")
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another delivery worker runs on this SQLite store: run one per file",
                        store=str(self.store_path), other=_read(self.path) or None)
            os.close(fd)
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file drops the lock


def sqlite_state(store_path: Path) -> ServiceState:
    path = lock_path(store_path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return ServiceState(False, f"no delivery service runs on {store_path}")
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(path)
        return ServiceState(True, f"the delivery service running on {store_path}"
                                  + (f" ({holder})" if holder else ""))
    finally:
        os.close(fd)
    return ServiceState(False, f"no delivery service runs on {store_path}")


async def redis_state(store: Any) -> ServiceState:
    """``store``: an open :class:`plugins.webhook.redis_store.RedisDeliveryStore`."""
    pattern = store.key("alive", "*")

    async def alive_workers() -> list[bytes]:
        return [key async for key in store.link.client.scan_iter(match=pattern, count=1000)]

    workers = await store.call(alive_workers)
    if workers:
        return ServiceState(True, f"{len(workers)} delivery worker(s) on Redis")
    return ServiceState(False, f"no delivery worker runs on Redis (prefix {store.prefix!r})")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
