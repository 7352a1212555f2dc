"""Whether a delivery service runs on a store, for the CLI's "who will send this?" answers.

- SQLite: every process that dispatches from the file (role ``all`` or ``worker``; several
  may share one file) holds an exclusive ``flock`` on ``<store>.dispatchers/<id>.lock`` for
  as long as it runs (:mod:`plugins.webhook.sqlite_dispatchers`). The kernel drops the lock
  when the process ends, however it ends (``kill -9`` included), so a lock that cannot be
  taken always means a live dispatcher on this host.
- Redis: each worker renews ``<prefix>:alive:<consumer>`` with every claim (it expires after
  ``redis_reclaim_seconds``; a clean stop deletes it), so a live key is a live worker, give or
  take that many seconds after a ``kill -9``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from plugins.webhook.sqlite_dispatchers import DispatcherRegistry


class ServiceState(msgspec.Struct, frozen=True):
    #: A delivery service (``all`` or ``worker`` role) runs on the store now.
    running: bool
    #: What was found, in words, for the operator.
    detail: str


def sqlite_state(store_path: Path) -> ServiceState:
    registry = DispatcherRegistry(store_path)  # looks, never registers
    live = registry.live()
    if not live:
        return ServiceState(False, f"no delivery service runs on {store_path}")
    holders = ", ".join(h for h in (registry.holder(i) for i in live) if h)
    who = "the delivery service" + ("" if len(live) == 1 else f" ({len(live)} processes)")
    return ServiceState(True, f"{who} running on {store_path}" + (f" ({holders})" if holders else ""))


async def redis_state(store: Any) -> ServiceState:
    """``store``: an open :class:`plugins.webhook.redis_store.RedisDeliveryStore`."""
    pattern = store.key("alive", "*")

    async def alive_workers() -> list[bytes]:
        return [key async for key in store.link.client.scan_iter(match=pattern, count=1000)]

    workers = await store.call(alive_workers)
    if workers:
        return ServiceState(True, f"{len(workers)} delivery worker(s) on Redis")
    return ServiceState(False, f"no delivery worker runs on Redis (prefix {store.prefix!r})")
