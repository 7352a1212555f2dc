"""The engines' metrics (module level, once per process): bad native records by engine.

A session's status, restarts and stalls are the kernel's (``core.metrics.KernelMetrics``, from
the ``session.status`` events and each live session's ``SessionHealth``).
"""

from __future__ import annotations

from prometheus_client import Counter

BAD_RECORDS = Counter("hookwire_bad_records", "Native records (or items of one) that were "
                      "logged and skipped as bad input, by engine.", ["engine"])
