"""``python -m bench``: every scenario of issue [perf] in one invocation, side by side.

Writes ``bench/RESULTS.md`` (a markdown table) and ``bench/results.json``. Throughput figures
are ratios to the baseline measured in the same round: the best of a bare aiohttp loop at 8,
32 and 64 connections, same bodies, same receiver (its own process, its CPU share reported).
The service runs as a user runs it (``python -m core replay``, default log level) and its
figure is the wall time of the whole command; the steady-state rate is shown next to it.

Sizes: the issue's by default (200,000 events full path, 500,000 backlog); ``--quick`` is
smaller (and RESULTS.md says so); ``--smoke`` is tiny (the test suite runs it).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import baselines, dispatchers, redis_workers, report, scenarios, translation
from bench.procs import Receiver, kill_all

HERE = Path(__file__).resolve().parent

SIZES = {  # events, backlog, dispatch backlog, translate, latency rate, latency seconds
    "full": (200_000, 500_000, 100_000, 20_000, 1000, 5.0),
    "quick": (30_000, 50_000, 20_000, 5_000, 1000, 5.0),
    "smoke": (300, 1_500, 300, 500, 200, 1.0),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--events", type=int, help="events of the full-path runs")
    parser.add_argument("--backlog-events", type=int, help="events of the backlog and kill -9 scenarios")
    parser.add_argument("--dispatch-events", type=int, help="backlog of the dispatch-processes scenario")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the side-by-side scenarios (medians)")
    parser.add_argument("--no-waha", action="store_true", help="skip WAHA's sender (needs node and npm)")
    parser.add_argument("--redis", action="store_true",
                        help="also: 1 vs 2 vs 4 worker processes on one Redis (needs redis-server)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    args.size = "smoke" if args.smoke else "quick" if args.quick else "full"
    events, backlog, dispatch, translate, rate, seconds = SIZES[args.size]
    args.events = args.events or events
    args.backlog_events = args.backlog_events or backlog
    args.dispatch_events = args.dispatch_events or dispatch
    args.translate_events, args.latency_rate, args.latency_seconds = translate, rate, seconds
    return args


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    names = ("hookwire", "aiohttp", "anyio", "msgspec", "structlog", "uvloop")
    versions = {name: md.version(name) for name in names if importlib.util.find_spec(name) or name == "hookwire"}
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions,
            "load_average_at_start": os.getloadavg()}


def _round(ws: scenarios.Workspace, noweb: scenarios.Workspace, receiver: Receiver, blackhole: Receiver,
           bodies: Path, noweb_bodies: Path, waha: bool) -> dict[str, Any]:
    base = baselines.best_bare_loop(receiver, bodies, ws.events)
    result: dict[str, Any] = {"baseline": base}
    if waha:
        result["waha"] = baselines.waha_sender(receiver, bodies, ws.events)
    result["full"] = scenarios.full_path(ws, receiver)
    result["split"] = scenarios.split_path(ws, receiver)
    result["fanout"] = scenarios.full_path(ws, receiver, endpoints=4, events=max(1, ws.events // 4), label="fanout")
    result["isolation"] = scenarios.full_path(ws, receiver, blackhole=blackhole, label="isolation")
    result["noweb_baseline"] = baselines.bare_loop(receiver, noweb_bodies, noweb.events, base["connections"])
    result["noweb"] = scenarios.full_path(noweb, receiver, label="noweb")
    b = base["per_s"]
    result["ratios"] = {
        "full": result["full"]["per_s"] / b,
        "full_steady": result["full"]["steady_per_s"] / base["steady_per_s"],
        "split": result["split"]["per_s"] / b,
        "fanout": result["fanout"]["per_s"] / b,
        "isolation": result["isolation"]["per_s"] / result["full"]["per_s"],
        "noweb": result["noweb"]["per_s"] / result["noweb_baseline"]["per_s"],
        **({"waha": result["waha"]["per_s"] / b,
            "full_to_waha": result["full"]["per_s"] / result["waha"]["per_s"]} if waha else {}),
    }
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    notes: list[str] = []
    waha = not args.no_waha
    if waha and (why := baselines.waha_sender_ready()) is not None:
        raise SystemExit(f"python -m bench: {why} (or --no-waha)")
    with tempfile.TemporaryDirectory(prefix="hookwire-bench-") as tmp:
        root = Path(tmp)
        ws = scenarios.Workspace(root, args.events)
        noweb = scenarios.Workspace(root, max(1, args.events // 2), "NOWEB")
        bodies = scenarios.envelopes_of(ws.recording, root / "bodies.jsonl")
        noweb_bodies = scenarios.envelopes_of(noweb.recording, root / "noweb-bodies.jsonl", "NOWEB")
        receiver, blackhole = Receiver("fast"), Receiver("blackhole")
        try:
            for number in range(args.rounds):
                print(f"round {number + 1}/{args.rounds}", file=sys.stderr, flush=True)
                rounds.append(_round(ws, noweb, receiver, blackhole, bodies, noweb_bodies, waha))
            print("several dispatch processes", file=sys.stderr, flush=True)
            dispatch = dispatchers.run(ws, receiver, args.dispatch_events)
            latency_receiver = Receiver("latency")
            try:
                lat = scenarios.latency(ws, latency_receiver, args.latency_rate, args.latency_seconds)
            finally:
                latency_receiver.close()
        finally:
            receiver.close()
            blackhole.close()
        base_rate = statistics.median(r["baseline"]["per_s"] for r in rounds)
        print("backlog and kill -9", file=sys.stderr, flush=True)
        backlog = scenarios.backlog_and_restart(ws, args.backlog_events, base_rate)
        translate_cli = translation.translate_cli(root, args.translate_events)
        redis_result = None
        if args.redis:
            redis_receiver = Receiver("fast")
            try:
                redis_result = redis_workers.run(root, ws.recording, min(args.events, 20_000), redis_receiver)
            finally:
                redis_receiver.close()
    translate = translation.translation(args.translate_events)

    def med(key: str) -> float:
        return statistics.median(r["ratios"][key] for r in rounds)

    return {
        "machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "rounds": rounds,
        "notes": notes,
        "summary": {
            "size": args.size, "events": args.events,
            "ratios": {key: med(key) for key in rounds[0]["ratios"]},
            "baseline_per_s": base_rate, "latency": lat, "backlog": backlog, "dispatch": dispatch,
            "translate_records_per_s": translate, "translate_cli": translate_cli,
            **({"redis_workers": redis_result} if redis_result else {}),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        result = run(args)
    finally:
        kill_all()
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    text = report.markdown(result)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
