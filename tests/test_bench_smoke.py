"""The benchmark harness at tiny sizes, so it cannot rot: every scenario runs for real (receiver
processes, the service as a subprocess, a kill -9 and restart) and the report is written.

The bench runs in a process group of its own: whatever ends the test (the bench's own timeout,
pytest-timeout, a failure) kills the whole group, receivers and services included. The
subprocess timeout is shorter than the test's pytest-timeout, so it is the one that fires and
says what happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Seconds the smoke run may take (about 40 s on 2 busy cores).
BENCH_TIMEOUT = 300


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_smoke_runs_every_scenario_and_writes_the_report(tmp_path: Path) -> None:
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--json", str(raw)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bench smoke run took longer than {BENCH_TIMEOUT} s")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the bench and anything it left running
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    summary = json.loads(raw.read_text())["summary"]
    assert summary["baseline_per_s"] > 0 and summary["full_per_s"] > 0
    assert summary["fanout_ratio"] > 0 and summary["isolation_ratio"] > 0
    assert summary["latency"]["events"] == 200 and summary["latency"]["p99_ms"] is not None
    backlog = summary["backlog"]
    assert backlog["lost"] == 0, backlog  # kill -9 mid-drain loses nothing
    assert backlog["peak_rss_mb_outage"] > 0
    assert set(summary["translate_records_per_s"]) == {"WEBJS", "NOWEB"}
    table = out.read_text()
    for scenario in ("| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |", "| 8 |", "| 8b |"):
        assert scenario in table
