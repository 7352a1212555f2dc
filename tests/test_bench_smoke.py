"""The benchmark harness at tiny sizes, so it cannot rot: every scenario runs for real (receiver
processes, the bare loop, WAHA's sender stack, the service as a subprocess, several dispatch
processes on one store, a kill -9 and restart) and the report is written. The harness runs in
a process group of its own, killed on the way out: nothing is left behind, even on a timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The harness's own deadline; pytest-timeout's is a little longer, so this one fires first.
HARNESS_SECONDS = 540


@pytest.mark.slow
@pytest.mark.timeout(HARNESS_SECONDS + 60)
def test_bench_smoke_runs_every_scenario_and_writes_the_report(tmp_path: Path) -> None:
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--json", str(raw)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=HARNESS_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bench smoke run took longer than {HARNESS_SECONDS} s")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the harness and every process it started
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    result = json.loads(raw.read_text())
    summary, last = result["summary"], result["rounds"][-1]
    assert summary["size"] == "smoke"
    assert set(last["baseline"]["by_connections"]) == {"8", "32", "64"}
    assert all(run["per_s"] > 0 and run["receiver_cpu_share"] > 0 for run in last["baseline"]["by_connections"].values())
    assert last["waha"]["per_s"] > 0
    for key in ("full", "split", "fanout", "isolation", "noweb"):
        assert last[key]["per_s"] > 0 and last[key]["steady_per_s"] > 0
    assert last["full"]["log_lines"] < 50  # the default level: no line per delivery
    assert set(summary["ratios"]) >= {"full", "full_steady", "split", "fanout", "isolation", "noweb", "waha", "full_to_waha"}
    assert summary["latency"]["events"] == 200 and summary["latency"]["p99_ms"] is not None
    backlog = summary["backlog"]
    assert backlog["lost"] == 0, backlog  # kill -9 mid-drain loses nothing
    assert backlog["peak_rss_mb_outage"] > 0
    dispatch = summary["dispatch"]
    assert set(dispatch["by_processes"]) == {"1", "2"}
    assert all(row["lost"] == 0 for row in dispatch["by_processes"].values())
    assert set(dispatch["model_per_s"]) == {"8", "16"}
    assert set(summary["translate_records_per_s"]) == {"WEBJS", "NOWEB"}
    table = out.read_text()
    assert "**Smoke run**" in table
    for scenario in ("| 1 |", "| 1b |", "| 2 |", "| 2b |", "| 2c |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |",
                     "| 8 |", "| 8b |", "| 10 |"):
        assert scenario in table
