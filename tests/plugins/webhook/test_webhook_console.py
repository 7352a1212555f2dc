"""A console a person can read (real ``python -m core replay`` subprocesses, lines counted):
at the default level a 3,000-event replay logs a few dozen lines, not one per delivery; a
failed attempt is a warning with its reason, a delivery going dead an error; progress lines
come while it works; it ends with a short summary in words (the JSON summary stays on
stdout); console lines fit the terminal; JSON lines keep every documented key."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import anyio
from aiohttp import web
from webhook_process import core_env
from webhook_receiver import Receiver
from webhook_service import message, toml_value, write_records

EVENTS = 3_000
FLAKY = {10, 700, 1400, 2100, 2900}   # fail once, then delivered
DEAD = {1234, 2345}                   # fail every time: dead after the retry
WIDTH = 100
#: The keys the README's "Logs" table documents for a failed attempt.
ATTEMPT_KEYS = {"event", "timestamp", "level", "logger", "event_name", "session", "delivery_id",
                "event_id", "url", "attempt", "status", "duration_ms", "error", "outcome",
                "next_attempt_at", "plugin", "response"}

def receiver_script():
    tries: dict[int, int] = {}

    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        seq = json.loads(await request.read())["payload"]["seq"]
        tries[seq] = tries.get(seq, 0) + 1
        if seq in DEAD or (seq in FLAKY and tries[seq] == 1):
            return web.json_response({"error": "database is locked"}, status=500)
        return web.json_response({"ok": True})
    return answer

def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "hookwire.toml"
    webhook = {"url": url, "events": ["message"], "retries": {"delay_seconds": 1, "attempts": 1}}
    path.write_text(
        f"[kernel]\ndata_dir = {toml_value(str(tmp_path / 'data'))}\n\n"
        "[log]\nprogress_seconds = 0.5\n\n"  # the default level (info)
        f"[delivery]\nstore_path = {toml_value(str(tmp_path / 'store.sqlite3'))}\n\n"
        "[[webhooks]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in webhook.items()),
        encoding="utf-8")
    return path

async def replay(scripted_site: Path, tmp_path: Path, fmt: str) -> tuple[int, str, list[str], list[dict]]:
    recording = write_records(tmp_path / "rec.jsonl", [message(f"{n % 50}@c.us", n) for n in range(EVENTS)])
    async with Receiver() as rx:
        rx.respond("/hook", then=receiver_script())
        cfg = config(tmp_path, rx.url("/hook"))

        with anyio.fail_after(90):
            done = await anyio.run_process(
                [sys.executable, "-m", "core", "--config", str(cfg), "--log-format", fmt, "replay",
                 str(recording), "--engine", "SCRIPTED"],
                env=core_env(scripted_site, {"COLUMNS": str(WIDTH)}), check=False)
        assert len(rx.delivered("/hook")) == EVENTS - len(DEAD)
    lines = done.stderr.decode().splitlines()
    records = [json.loads(line) for line in lines] if fmt == "json" else []
    return done.returncode, done.stdout.decode(), lines, records

async def test_a_3000_event_replay_logs_a_few_dozen_readable_lines(tmp_path, scripted_site):
    code, stdout, lines, _ = await replay(scripted_site, tmp_path, "console")
    text = "\n".join(lines)
    assert code == 1, text  # dead deliveries: exit status 1
    summary = json.loads(stdout)  # for scripts, unchanged
    assert (summary["events"], summary["webhook"]["delivered"], summary["webhook"]["dead"]) == (
        EVENTS, EVENTS - len(DEAD), len(DEAD))
    assert 10 <= len(lines) <= 60, f"{len(lines)} lines:\n{text}"  # a few dozen, not thousands
    assert all(len(line) <= WIDTH for line in lines), [line for line in lines if len(line) > WIDTH]
    entry = re.compile(r"^\d\d:\d\d:\d\d (DEBG|INFO|WARN|ERR |CRIT) ")
    entries: list[str] = []  # a line with its time and level, with the lines that continue it
    for line in lines:
        if entry.match(line) or not entries:
            entries.append(line)
        else:
            assert line.startswith(" "), line
            entries[-1] += "\n" + line
    # A failed attempt: a warning with the reason; a delivery going dead: an error.
    warnings = [line for line in entries if line[9:13] == "WARN"]
    errors = [line for line in entries if line[9:13] == "ERR "]
    assert len(warnings) == len(FLAKY) + len(DEAD), "\n".join(warnings)
    assert all("delivery attempt" in w and "status=500" in w and "database is locked" in w
               and "next=in " in w for w in warnings), "\n".join(warnings)
    assert len(errors) == len(DEAD) and all("delivery dead" in e and "outcome=dead" in e for e in errors)
    assert not any("DEBG" in line for line in entries)  # successes are not lines
    # Progress while it works, then the summary in words.
    progress = [line for line in entries if " progress " in line or line.endswith(" progress")]
    assert progress, text
    assert all(re.search(r"events=[\d,]+  in_rate=[\d.,]+/s  delivered=[\d,]+  rate=[\d.,]+/s  "
                         r"pending=[\d,]+  retrying=\d+  dead=\d+", re.sub(r"\n +", "  ", p))
               for p in progress), "\n".join(progress)
    assert "replay done in" in text and "3,000 events in" in text
    assert f"{EVENTS:,} deliveries: {EVENTS - len(DEAD):,} delivered, {len(DEAD)} dead" in text
    assert "dead ones are kept: python -m core deliveries list --status dead" in text

async def test_json_lines_keep_every_documented_key(tmp_path, scripted_site):
    code, stdout, lines, records = await replay(scripted_site, tmp_path, "json")
    assert code == 1
    failed = [r for r in records if r["event"] == "delivery attempt"]
    dead = [r for r in records if r["event"] == "delivery dead"]
    assert len(failed) == len(FLAKY) + len(DEAD) and len(dead) == len(DEAD)
    for record in failed + dead:
        assert ATTEMPT_KEYS <= set(record), ATTEMPT_KEYS - set(record)
        assert record["status"] == 500 and record["error"] is None  # it answered: no error
        assert record["response"] == '{"error": "database is locked"}'  # what it said
        assert record["url"].endswith("/hook") and record["delivery_id"].startswith("dlv_")
    assert {r["level"] for r in failed} == {"warning"} and {r["level"] for r in dead} == {"error"}
    assert all(isinstance(r["next_attempt_at"], int) for r in failed)
    progress = [r for r in records if r["event"] == "progress"]
    assert progress and {"events", "in_rate", "delivered", "rate", "pending", "retrying", "dead", "failing"} <= set(progress[-1])
    assert json.loads(stdout)["events"] == EVENTS
