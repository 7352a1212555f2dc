"""``bench/RESULTS.md`` from a run's figures."""

from __future__ import annotations

from typing import Any

from bench import dispatchers, redis_workers

COMMAND = {"full": "python -m bench", "quick": "python -m bench --quick", "smoke": "python -m bench --smoke"}


def _ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _rate(run: dict[str, Any]) -> str:
    steady = run.get("steady_per_s")
    return f"{run['per_s']:,.0f}/s" + (f" (steady {steady:,.0f}/s)" if steady else "")


def rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    s, last = result["summary"], result["rounds"][-1]
    r, base, full = s["ratios"], last["baseline"], last["full"]
    b, lat, d = s["backlog"], s["latency"], s["dispatch"]
    bare = ", ".join(f"{c}: {run['per_s']:,.0f}/s" for c, run in base["by_connections"].items())
    out: list[tuple[str, ...]] = [
        ("1", "baseline: bare aiohttp loop at 8, 32, 64 connections, same bodies, same receiver",
         f"best {_rate(base)} at {base['connections']} ({bare}); receiver used "
         f"{base['receiver_cpu_share']:.0%} of a core, the loop {base['cpu_us_per_delivery']:.0f} µs CPU per request",
         "(the limit)", ""),
    ]
    if "waha" in last:
        waha = last["waha"]
        out.append(("1b", "WAHA's sender: axios + agentkeepalive, 32 sockets, no store",
                    f"{_rate(waha)}, ratio {r['waha']:.2f} to the bare loop", "(the sender replaced)", ""))
    to_waha = f"; {r['full_to_waha']:.2f} × WAHA's sender" if "full_to_waha" in r else ""
    out += [
        ("2", f"full path: `python -m core replay` of {full['deliveries']:,} WEBJS messages (~1.8 KB), one "
              "endpoint, default settings, wall time of the command",
         f"{_rate(full)}: ratio {r['full']:.2f} (steady {r['full_steady']:.2f}){to_waha}; "
         f"{full['cpu_us_per_delivery']:.0f} µs CPU per delivery, {full['log_lines']} log lines, "
         f"peak RSS {full['peak_rss_mb']} MB",
         "≥ 0.7; ≥ 1.3 × WAHA", _ok(r["full"] >= 0.7 and r.get("full_to_waha", 1.3) >= 1.3)),
        ("2c", "full path as two processes on one SQLite file: `--role engines replay` and `--role worker`",
         f"{_rate(last['split'])}: ratio {r['split']:.2f}"
         + (f"; {last['split']['per_s'] / last['waha']['per_s']:.2f} × WAHA's sender" if "waha" in last else "")
         + f"; {last['split']['cpu_us_per_delivery']:.0f} µs CPU per delivery", "≥ 0.7; ≥ 1.3 × WAHA",
         _ok(r["split"] >= 0.7 and ("waha" not in last or last["split"]["per_s"] >= 1.3 * last["waha"]["per_s"]))),
        ("2b", f"full path, NOWEB envelopes ({last['noweb']['deliveries']:,}), against the bare loop on the same bodies",
         f"{_rate(last['noweb'])}: ratio {r['noweb']:.2f}", "(recorded)", ""),
        ("3", f"fan-out: 4 endpoints with different filters, {last['fanout']['deliveries']:,} deliveries",
         f"{_rate(last['fanout'])}: ratio {r['fanout']:.2f}", "≥ 0.7", _ok(r["fanout"] >= 0.7)),
        ("4", f"latency at a steady {lat['rate']} events/s", f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms",
         "p50 ≤ 5 ms, p99 ≤ 25 ms", _ok(lat["p50_ms"] <= 5 and lat["p99_ms"] <= 25)),
        ("5", "isolation: scenario 2 + a black-holed endpoint", f"healthy endpoint at {r['isolation']:.2f} of 2",
         "≥ 0.9", _ok(r["isolation"] >= 0.9)),
        ("6", f"backlog: {b['events']:,} events while the receiver is down, then up",
         f"peak RSS {b['peak_rss_mb_outage']} MB (store {b['store_mb']} MB, written at {b['stored_per_s']:,.0f}/s); "
         f"drain {b['drain_per_s']:,.0f}/s, ratio {b['drain_ratio']:.2f}",
         "≤ 200 MB; ≥ 0.7", _ok(b["peak_rss_mb_outage"] <= 200 and b["drain_ratio"] >= 0.7)),
        ("7", "kill -9 mid-drain, restart",
         f"{b['lost']} lost ({b['duplicates']} sent twice); "
         + (f"resumed in {b['resume_seconds']} s" if b["resume_seconds"] is not None else "all delivered before the kill"),
         "0 lost; ≤ 2 s", _ok(b["lost"] == 0 and (b["resume_seconds"] or 0) <= 2)),
        dispatchers.row(d),
        ("8", "translation alone (translators in-process)",
         ", ".join(f"{k} {v:,.0f} records/s" for k, v in s["translate_records_per_s"].items()), "(recorded)", ""),
        *(("8b", f"`python -m core translate`, {key.split('_')[0]}, {key.split('_')[1]} records ({v['file_mb']} MB)",
           f"{v['records_per_s']:,.0f} records/s, peak RSS {v['peak_rss_mb']} MB", "constant memory", "")
          for key, v in s["translate_cli"].items()),
    ]
    if "redis_workers" in s:
        out.append(redis_workers.row(s["redis_workers"]))
    return out


def markdown(result: dict[str, Any]) -> str:
    m, s, a = result["machine"], result["summary"], result["args"]
    d = s["dispatch"]
    size_note = {
        "full": "Sizes: the issue's (200,000 events full path, 500,000 backlog).",
        "quick": f"**Quick run** (`--quick`): {s['events']:,} events full path, {s['backlog']['events']:,} "
                 "backlog: smaller than the issue's sizes.",
        "smoke": "**Smoke run** (`--smoke`): tiny sizes, figures not meaningful.",
    }[s["size"]]
    lines = [
        "# hookwire benchmark results", "",
        f"`{COMMAND[s['size']]}` on {m['date']}: {m['cpu']}, {m['cores']} cores (load average "
        f"{m['load_average_at_start'][0]:.1f} at the start), Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        f"{size_note} {a['rounds']} round(s), medians; every ratio is taken against the baseline of the "
        "same round (the best bare loop), the service's rate is deliveries over the wall time of the "
        "whole command (start-up, translation, store and final flush included).", "",
        "| # | scenario | measured | target | met |", "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows(result)), "",
        "Scenario 10's model: " + " ".join(dispatchers.__doc__.split("The model: ", 1)[1].split()) + " Measured: "
        + f"cpu_us = {1e6 / d['process_per_s_with_a_core']:.0f} µs, store_us = {d['store_us_per_delivery']:.1f} µs.", "",
        "Raw figures of every round: `bench/results.json`. What limits a target not met, and what was tried: `bench/PROFILE.md`.", "",
        *((redis_workers.SCALING_NOTE, "") if "redis_workers" in s else ()),
    ]
    return "\n".join(lines)
