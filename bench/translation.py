"""Translation scenarios: the translators alone (in this process), and ``python -m core
translate`` as a user runs it (records/s, and peak RSS at two sizes: the same RSS at both =
streaming, constant memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import ROOT
from bench.recordings import ME, write_recording


def translation(events: int) -> dict[str, Any]:
    """The engines' translators alone, records/s (in this process)."""
    from core.app import App
    from core.config import DEFAULT_CONFIG_PATH

    app = App.load()
    app.load_config(DEFAULT_CONFIG_PATH, environ={})  # engines register once a config is read
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("WEBJS", "NOWEB"):
            path = write_recording(Path(tmp) / f"{engine}.jsonl", engine, events)
            lines = path.read_bytes().splitlines()
            translator = app.registry.engines[engine].create_translator("bench", ME, None)
            started = time.perf_counter()
            for number, line in enumerate(lines, 1):
                translator.translate_line(line, str(number))
            results[engine] = events / (time.perf_counter() - started)
            assert translator.bad_records == 0, f"{engine}: generated records are bad"
    return results


def translate_cli(root: Path, events: int) -> dict[str, Any]:
    """``python -m core translate`` on a recording of ``events`` records and on one ten times
    smaller: records/s and peak RSS."""
    results: dict[str, Any] = {}
    for engine in ("WEBJS", "NOWEB"):
        for count in (max(1, events // 10), events):
            path = write_recording(root / f"translate-{engine}-{count}.jsonl", engine, count)
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "core", "--log-level", "error", "translate",
                                     "--engine", engine, "--me", ME, str(path)],
                                    cwd=ROOT, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode:
                raise RuntimeError(f"translate failed for {engine}")
            results[f"{engine}_{count}"] = {
                "records_per_s": count / (time.perf_counter() - started),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "file_mb": round(path.stat().st_size / 2**20, 1),
            }
            path.unlink()
    return results
