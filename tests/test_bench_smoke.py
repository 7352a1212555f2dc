"""The benchmark harness at tiny sizes, so it cannot rot: every scenario runs for real (receiver
processes, the service as a subprocess, a kill -9 and restart) and the report is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_runs_every_scenario_and_writes_the_report(tmp_path: Path) -> None:
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--json", str(raw)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
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
