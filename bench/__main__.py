"""``python -m bench``: every scenario of issue [bench] in one invocation, side by side.

Writes ``bench/RESULTS.md`` (a markdown table) and ``bench/results.json``. Throughput figures
are ratios to the bare-client baseline measured in the same round; each is the median of
``--rounds`` rounds. ``--smoke`` runs tiny sizes (the test suite uses it so the harness cannot rot).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import redis_workers, scenarios
from bench.procs import Receiver

HERE = Path(__file__).resolve().parent


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-rate", type=int, default=1000, help="events/s of scenario 4")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--backlog-events", type=int, default=30_000, help="events of scenarios 6-7")
    parser.add_argument("--translate-events", type=int, default=20_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--redis", action="store_true",
                        help="also scenario 9: 1 vs 2 vs 4 worker processes on one Redis (needs redis-server)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.rounds, args.latency_rate, args.latency_seconds = 300, 1, 200, 1.0
        args.backlog_events, args.translate_events = 1500, 500
    return args


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    versions = {name: md.version(name) for name in ("hookwire", "aiohttp", "anyio", "msgspec", "structlog")}
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hookwire-bench-") as tmp:
        ws = scenarios.Workspace(Path(tmp), args.events)
        bodies = scenarios.envelopes_of(ws.recording, Path(tmp) / "bodies.jsonl")
        receiver, blackhole = Receiver("fast"), Receiver("blackhole")
        try:
            for number in range(args.rounds):
                print(f"round {number + 1}/{args.rounds}", file=sys.stderr)
                base = scenarios.baseline(ws, receiver, bodies)
                full = scenarios.full_path(ws, receiver)
                fanout = scenarios.full_path(ws, receiver, endpoints=4)
                isolated = scenarios.full_path(ws, receiver, blackhole=blackhole)
                rounds.append({
                    "baseline": base, "full": full, "fanout": fanout, "isolation": isolated,
                    "full_ratio": full["deliveries_per_s"] / base["deliveries_per_s"],
                    "fanout_ratio": fanout["deliveries_per_s"] / base["deliveries_per_s"],
                    "isolation_ratio": isolated["deliveries_per_s"] / full["deliveries_per_s"],
                })
            latency_receiver = Receiver("latency")
            try:
                lat = scenarios.latency(ws, latency_receiver, args.latency_rate, args.latency_seconds)
            finally:
                latency_receiver.close()
        finally:
            receiver.close()
            blackhole.close()
        base_rate = statistics.median(r["baseline"]["deliveries_per_s"] for r in rounds)
        backlog = scenarios.backlog_and_restart(ws, args.backlog_events, base_rate)
        translate_cli = scenarios.translate_cli(Path(tmp), args.translate_events)
        redis_result = None
        if args.redis:
            redis_receiver = Receiver("fast")
            try:
                redis_result = redis_workers.run(Path(tmp), ws.recording, args.events, redis_receiver)
            finally:
                redis_receiver.close()
    translate = scenarios.translation(args.translate_events)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    return {
        "machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "rounds": rounds,
        "summary": {
            "baseline_per_s": base_rate,
            "receiver_cpu_share": statistics.median(r["baseline"]["receiver_cpu_share"] for r in rounds),
            "full_per_s": statistics.median(r["full"]["deliveries_per_s"] for r in rounds),
            "full_ratio": med("full_ratio"), "fanout_ratio": med("fanout_ratio"),
            "isolation_ratio": med("isolation_ratio"), "latency": lat, "backlog": backlog,
            "translate_records_per_s": translate, "translate_cli": translate_cli,
            **({"redis_workers": redis_result} if redis_result else {}),
        },
    }


def markdown(result: dict[str, Any]) -> str:
    m, s = result["machine"], result["summary"]
    b, lat = s["backlog"], s["latency"]
    a = result["args"]
    rows = [
        ("1", "baseline: bare aiohttp client, same envelopes, same receiver, concurrency 8",
         f"{s['baseline_per_s']:.0f} deliveries/s (receiver used {s['receiver_cpu_share']:.0%} of a core)", "(the limit)", ""),
        ("2", f"full path, {a['events']} events, one endpoint", f"{s['full_per_s']:.0f}/s, ratio {s['full_ratio']:.2f}", "≥ 0.7", _ok(s["full_ratio"] >= 0.7)),
        ("3", "fan-out, 4 endpoints, different filters", f"ratio {s['fanout_ratio']:.2f}", "≥ 0.7", _ok(s["fanout_ratio"] >= 0.7)),
        ("4", f"latency at a steady {lat['rate']} events/s", f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms",
         "p50 ≤ 5 ms, p99 ≤ 25 ms", _ok(lat["p50_ms"] <= 5 and lat["p99_ms"] <= 25)),
        ("5", "isolation: scenario 2 + a black-holed endpoint", f"ratio to 2: {s['isolation_ratio']:.2f}", "≥ 0.9", _ok(s["isolation_ratio"] >= 0.9)),
        ("6", f"backlog: {b['events']} events while the receiver is down, then up",
         f"peak RSS {b['peak_rss_mb_outage']} MB; drain ratio {b['drain_ratio']:.2f}", "≤ 200 MB; ≥ 0.7",
         _ok(b["peak_rss_mb_outage"] <= 200 and b["drain_ratio"] >= 0.7)),
        ("7", "restart: kill -9 mid-drain, restart", f"{b['lost']} lost ({b['duplicates']} duplicates); " + (f"resumed in {b['resume_seconds']} s" if b["resume_seconds"] is not None else "all delivered before the kill"),
         "0 lost; ≤ 2 s", _ok(b["lost"] == 0 and (b["resume_seconds"] or 0) <= 2)),
        ("8", "translation alone (translators in-process)", ", ".join(f"{k} {v:,.0f} records/s" for k, v in s["translate_records_per_s"].items()), "(recorded)", ""),
        *(("8b", f"`python -m core translate`, {key.split('_')[0]}, {key.split('_')[1]} records ({v['file_mb']} MB)",
           f"{v['records_per_s']:,.0f} records/s, peak RSS {v['peak_rss_mb']} MB", "constant memory", "")
          for key, v in s["translate_cli"].items()),
        *((redis_workers.row(s["redis_workers"]),) if "redis_workers" in s else ()),
    ]
    lines = [
        "# hookwire benchmark results", "",
        f"`python -m bench` on {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        f"Medians of {a['rounds']} rounds; every ratio is measured against the baseline of the same round.", "",
        "| # | scenario | measured | target | met |", "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows), "",
        "Raw figures of every round: `bench/results.json`.", "",
        *((redis_workers.SCALING_NOTE, "") if "redis_workers" in s else ()),
    ]
    return "\n".join(lines)


def _ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    args.out.write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
