"""The two baselines, run against the same receiver with the same bodies as the service:

- the limit: a bare aiohttp loop (``bench/baseline.py``) at 8, 32 and 64 connections; the best
  of the three is the baseline every ratio is taken against;
- WAHA's sender stack: axios + agentkeepalive (``bench/waha_sender/``, installed with
  ``npm ci`` on first use, like the bridges), 32 sockets, no store at all.

Each figure is the wall time of the whole sending process (start-up included, as for the
service), with the steady-state rate the receiver saw next to it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Receiver, run_measured

BARE_CONNECTIONS = (8, 32, 64)
WAHA_SOCKETS = 32
WAHA_DIR = ROOT / "bench" / "waha_sender"


def _figures(receiver: Receiver, count: int, measured: Any, cpu0: float) -> dict[str, Any]:
    stats = receiver.stats()
    if stats["count"] < count:
        raise RuntimeError(f"the receiver got {stats['count']} of {count} requests")
    return {"per_s": count / measured.wall, "wall_s": round(measured.wall, 3),
            "steady_per_s": stats["steady_per_s"], "cpu_us_per_delivery": measured.cpu / count * 1e6,
            "receiver_cpu_share": (stats["cpu_seconds"] - cpu0) / measured.wall}


def bare_loop(receiver: Receiver, bodies: Path, count: int, connections: int) -> dict[str, Any]:
    receiver.reset()
    cpu0 = receiver.stats()["cpu_seconds"]
    measured = run_measured([sys.executable, "-m", "bench.baseline", str(bodies), receiver.url("bare"),
                             str(connections)], cwd=ROOT)
    if measured.returncode:
        raise RuntimeError(f"the bare loop failed ({measured.returncode})")
    return {"connections": connections, **_figures(receiver, count, measured, cpu0)}


def best_bare_loop(receiver: Receiver, bodies: Path, count: int) -> dict[str, Any]:
    runs = {str(c): bare_loop(receiver, bodies, count, c) for c in BARE_CONNECTIONS}
    best = max(runs.values(), key=lambda r: r["per_s"])
    return {**best, "by_connections": runs}


def waha_sender_ready() -> str | None:
    """``None`` when the WAHA sender can run (its npm packages installed now if need be),
    else why not, in words."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are needed for WAHA's sender (Debian: apt-get install nodejs npm)"
    if not (WAHA_DIR / "node_modules" / "axios").is_dir() or not (WAHA_DIR / "node_modules" / "agentkeepalive").is_dir():
        done = subprocess.run([npm, "ci", "--omit=dev", "--no-audit", "--no-fund"], cwd=WAHA_DIR,
                              capture_output=True, text=True, timeout=900, check=False)
        if done.returncode:
            return f"npm ci failed in {WAHA_DIR}: {done.stderr.strip()[-500:]}"
    return None


def waha_sender(receiver: Receiver, bodies: Path, count: int) -> dict[str, Any]:
    receiver.reset()
    cpu0 = receiver.stats()["cpu_seconds"]
    measured = run_measured([shutil.which("node") or "node", str(WAHA_DIR / "sender.js"), str(bodies),
                             receiver.url("waha"), str(WAHA_SOCKETS)], cwd=WAHA_DIR, stdout=subprocess.DEVNULL)
    if measured.returncode:
        raise RuntimeError(f"WAHA's sender failed ({measured.returncode})")
    return {"sockets": WAHA_SOCKETS, **_figures(receiver, count, measured, cpu0)}
