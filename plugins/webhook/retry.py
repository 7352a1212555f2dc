"""Retry policies (``webhook-contract.md`` §6) and ``Retry-After`` (§5)."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable

from plugins.webhook.config import RetryConfig


class RetryPolicy:
    """Delay before retry ``n`` (1, 2 …), or ``None`` when no retry is left."""

    def __init__(self, config: RetryConfig, rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.rand = rand

    @property
    def max_attempts(self) -> int:
        """POSTs at most: the first try plus the retries."""
        retries = len(self.config.schedule) if self.config.schedule is not None else self.config.attempts
        return 1 + retries

    def delay(self, retry: int) -> float | None:
        cfg = self.config
        if retry < 1 or retry >= self.max_attempts:
            return None
        if cfg.schedule is not None:
            base = cfg.schedule[retry - 1]
        elif cfg.policy == "constant":
            base = cfg.delay_seconds
        elif cfg.policy == "linear":
            base = retry * cfg.delay_seconds
        else:
            base = cfg.delay_seconds * 2 ** (retry - 1)
            base *= 1 + cfg.jitter * (2 * self.rand() - 1)
        return min(base, cfg.max_delay_seconds)

    def with_retry_after(self, delay: float, retry_after: float | None) -> float:
        """``Retry-After`` can only lengthen a delay, and never past the max delay."""
        if retry_after is None:
            return delay
        return min(max(delay, retry_after), max(self.config.max_delay_seconds, delay))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
