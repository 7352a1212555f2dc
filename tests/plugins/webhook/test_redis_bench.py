"""The benchmark's Redis scenario (1 vs 2 vs 4 worker processes) at a tiny size, so it cannot rot:
a real redis-server, a real engines process and real worker processes, the report row written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from redis_server import REPO_ROOT, redis_binary

from bench import redis_workers

pytestmark = pytest.mark.slow


def test_the_redis_workers_scenario_runs_every_worker_count_and_reports() -> None:
    redis_binary()  # skipped without redis-server, a failure under CI
    proc = subprocess.run([sys.executable, "-m", "bench.redis_workers", "--smoke"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    by_workers = result["by_workers"]
    assert set(by_workers) == {"1", "2", "4"}
    for count, row in by_workers.items():
        assert row["workers"] == int(count) and row["deliveries_per_s"] > 0
        assert row["backlog"]["deliveries"] == result["events"] == 200  # the engines wrote all
        assert row["count"] >= 180  # measured up to 90 % of the backlog
    assert by_workers["1"]["scaling"] == 1.0
    number, _, measured, _, _ = redis_workers.row(result)
    assert number == "9" and "4 workers:" in measured
