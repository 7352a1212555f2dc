"""The connection to Redis and what happens while Redis is unreachable.

Every call of the Redis store goes through :meth:`RedisLink.call`. A connection error (refused,
reset, timed out, Redis still loading its data after a restart) is an *outage*: it is logged at
warning level once, when it begins, and once more, at info level, when Redis answers again.
Callers on the dispatch path wait (``wait=True``, the default: the call is repeated with
backoff until Redis answers, so workers reconnect by themselves); the CLI fails at once with a
:class:`~core.config.ConfigError` naming the URL.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from yarl import URL

from core.config import ConfigError
from core.logging import get_logger

log = get_logger("plugins.webhook.redis")

T = TypeVar("T")

#: What makes a call an outage rather than a bug (BusyLoadingError is a ConnectionError).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisUnavailable(Exception):
    """Redis did not answer and the caller chose not to wait."""


def shown_url(url: str) -> str:
    """The Redis URL without its password (for logs and errors)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return "<unparsable redis_url>"
    return str(parsed.with_password(None)) if parsed.password else url


class RedisLink:
    def __init__(self, url: str, *, socket_timeout: float = 10.0) -> None:
        self.url = url
        self.shown_url = shown_url(url)
        # No retries inside redis-py: an outage is handled (and logged) once, here.
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=False, socket_timeout=socket_timeout,
            socket_connect_timeout=5.0, retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self.down_since: float | None = None
        self.outages = 0
        #: Said once per outage, by whoever noticed it (e.g. "buffering up to 10000 events").
        self.outage_note = "waiting for it"

    async def close(self) -> None:
        await self.client.aclose()

    def _went_down(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.warning("redis unreachable", url=self.shown_url, meanwhile=self.outage_note,
                        error=f"{type(exc).__name__}: {exc}")

    def _came_back(self) -> None:
        if self.down_since is not None:
            log.info("redis reachable again", url=self.shown_url,
                     outage_seconds=round(time.monotonic() - self.down_since, 3))
            self.down_since = None

    async def call(self, fn: Callable[[], Awaitable[T]], *, wait: bool = True) -> T:
        """``await fn()``; on a connection error wait and repeat (``wait``) or raise
        :class:`RedisUnavailable`. Other errors (a bug, a wrong server) propagate."""
        delay = 0.05
        while True:
            try:
                result = await fn()
            except UNREACHABLE as exc:
                self._went_down(exc)
                # The server went away: its other idle connections are dead too. Drop them now,
                # or each would fail once after Redis is back (and look like a new outage).
                await self.client.connection_pool.disconnect(inuse_connections=False)
                if not wait:
                    raise RedisUnavailable(str(exc)) from exc
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self._came_back()
            return result

    async def check(self) -> None:
        """For the CLI: fail at once, with one clear line, when Redis does not answer."""
        try:
            await self.client.ping()
        except UNREACHABLE as exc:
            raise ConfigError(f"[delivery] redis_url: cannot reach Redis at {self.shown_url}: {exc}") from None

    def script(self, source: str) -> Any:
        return self.client.register_script(source)
