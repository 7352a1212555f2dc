"""One progress line every few seconds while there is work (``[log] progress_seconds``).

The line says how many events came in (``events``, and per second since the last line,
``in_rate``) and whatever the sinks report: a sink may offer ``async def progress() -> dict``
(the webhook sink: ``delivered`` and per second ``rate``, ``pending``, ``retrying``, ``dead``,
``failing`` endpoints). Nothing changed since the last line: no line (an idle service is
quiet). At the end of a run a command prints its summary itself.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from core.kernel import Kernel
from core.logging import get_logger

log = get_logger("core.progress")

#: How long one sink may take to answer (its store may be slow or down).
SINK_TIMEOUT_SECONDS = 2.0


async def snapshot(kernel: Kernel) -> dict[str, Any] | None:
    """What the progress line reports, now; None when a sink cannot tell (its store is
    closing or unreachable: no line rather than one without its numbers)."""
    numbers: dict[str, Any] = {"events": kernel.stats.events_total}
    for sink in kernel.sinks:
        progress = getattr(sink, "progress", None)
        if progress is None:
            continue
        try:
            with anyio.fail_after(SINK_TIMEOUT_SECONDS):
                numbers.update(await progress())
        except Exception as exc:  # never let a report break the run
            log.debug("sink progress unavailable", sink=sink.name, error=f"{type(exc).__name__}: {exc}")
            return None
    return numbers


async def report_progress(kernel: Kernel, interval: float) -> None:
    """Log a progress line every ``interval`` seconds while something changes (until cancelled)."""
    if interval <= 0:
        return
    last: dict[str, Any] | None = None
    last_at = time.monotonic()
    while True:
        await anyio.sleep(interval)
        numbers = await snapshot(kernel)
        if numbers is None or numbers == last:
            continue
        now = time.monotonic()
        elapsed = max(now - last_at, 1e-9)
        before = last or {}
        rates = {"in_rate": round((numbers["events"] - before.get("events", 0)) / elapsed, 1)}
        if isinstance(numbers.get("delivered"), int):
            rates["rate"] = round((numbers["delivered"] - before.get("delivered", 0)) / elapsed, 1)
        last, last_at = dict(numbers), now
        events, delivered = numbers.pop("events"), numbers.pop("delivered", None)
        fields: dict[str, Any] = {"events": events, "in_rate": rates["in_rate"]}
        if delivered is not None:
            fields.update(delivered=delivered, rate=rates["rate"])
        log.info("progress", **fields, **numbers)
