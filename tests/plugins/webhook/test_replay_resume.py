"""A restarted replay resumes with the same ids: ``python -m core replay`` as a real subprocess
against a real receiver, killed with SIGKILL mid-run and run again on the same data dir. The
receiver then sees no envelope it cannot dedupe: every event under one id, every id with one
body. A finished run, ``--new-run`` or another data dir give new ids."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from webhook_process import core_process, run_core
from webhook_receiver import Receiver
from webhook_service import write_config

from bench.recordings import write_recording

MESSAGES = 300


def setup(tmp_path: Path, rx: Receiver) -> tuple[Path, Path]:
    # Paced by the records' ts, 10 ms apart: about 3 s of emission, so a kill lands mid-run.
    recording = write_recording(tmp_path / "messages.jsonl", "WEBJS", MESSAGES, spacing_ms=10)
    config = write_config(tmp_path / "hookwire.toml",
                          webhooks=[{"url": rx.url("/hook"), "events": ["message.any"],
                                     "retries": {"delay_seconds": 0.05}}])
    return recording, config


def replay_args(config: Path, recording: Path, *extra: str) -> tuple[str, ...]:
    return ("--config", str(config), "replay", str(recording), "--engine", "WEBJS",
            "--me", "11111111111@c.us", "--pace", "recorded", *extra)


async def killed_mid_run(site: Path, rx: Receiver, args: tuple[str, ...], env: dict[str, str] | None = None) -> int:
    """Run the replay until the receiver has half of the messages, then SIGKILL it (the run
    record then says at least 128 lines were read: it is written each time that doubles)."""
    before = len(rx.requests)
    async with core_process(site, *args, env=env) as replay:
        await rx.wait_until(lambda: len(rx.requests) - before >= MESSAGES // 2, timeout=30)
        replay.process.kill()
        status = await replay.wait()
    assert status == -9
    return len(rx.requests)


def by_message(requests: list) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = defaultdict(set)
    for request in requests:
        body = request.json()
        ids[body["payload"]["id"]].add(body["id"])
    return ids


def assert_dedupable(requests: list) -> None:
    """Every envelope id with one body, every message under one envelope id."""
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in requests:
        bodies[request.json()["id"]].add(request.body)
    assert {i: len(b) for i, b in bodies.items() if len(b) > 1} == {}
    assert {m: ids for m, ids in by_message(requests).items() if len(ids) > 1} == {}


async def test_a_replay_killed_mid_run_resumes_with_the_same_ids(tmp_path, scripted_site):
    async with Receiver() as rx:
        recording, config = setup(tmp_path, rx)
        first = await killed_mid_run(scripted_site, rx, replay_args(config, recording))
        code, out, err = await run_core(scripted_site, *replay_args(config, recording), timeout=60)
        assert code == 0, err[-3000:]
        logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        [resumed] = [e for e in logs if e["event"] == "replay continues its run: same event ids"]
        assert resumed["lines_read"] >= 128
        [finished] = [e for e in logs if e["event"] == "replay finished"]
        assert finished["already_stored"] > 0  # what the store had was not sent on the bus again
        requests = list(rx.requests)
    assert_dedupable(requests)
    messages = by_message(requests)
    assert len(messages) == MESSAGES  # nothing lost
    resent = requests[first:]
    seen_before = {r.json()["id"]: r.body for r in requests[:first]}
    for request in resent:  # a re-sent event comes under the id the receiver saw, same body
        event_id = request.json()["id"]
        if event_id in seen_before:
            assert request.body == seen_before[event_id]
    assert json.loads(out.splitlines()[-1])["webhook"]["dead"] == 0

    # The run is finished: the next replay of the file is a new run, with new ids.
    async with Receiver() as again:
        config = write_config(tmp_path / "again.toml",  # another store, the same data dir
                              webhooks=[{"url": again.url("/hook"), "events": ["message.any"]}],
                              kernel={"data_dir": str(tmp_path / "hookwire.data")})
        code, _, err = await run_core(scripted_site, *replay_args(config, recording), timeout=60)
        assert code == 0, err[-3000:]
        new_ids = {r.json()["id"] for r in again.requests}
    assert len(new_ids) == MESSAGES and not new_ids & {r.json()["id"] for r in requests}


@pytest.mark.parametrize("how", ["--new-run", "another data dir"])
async def test_a_new_run_gets_new_ids(tmp_path, scripted_site, how):
    async with Receiver() as rx:
        recording, config = setup(tmp_path, rx)
        first = await killed_mid_run(scripted_site, rx, replay_args(config, recording))
        extra, env = (("--new-run",), None) if how == "--new-run" else ((), {"HOOKWIRE_DATA_DIR": str(tmp_path / "other")})
        code, _, err = await run_core(scripted_site, *replay_args(config, recording, *extra), env=env, timeout=60)
        assert code == 0, err[-3000:]
        assert "replay continues its run" not in err
        requests = list(rx.requests)
    # The store still sends what the killed run left pending, under its ids; the new run sends
    # every message again under a new id: a message seen before the kill has two ids now.
    seen_before = by_message(requests[:first])
    everything = by_message(requests)
    assert len(everything) == MESSAGES
    assert all(len(everything[m]) == 2 and ids < everything[m] for m, ids in seen_before.items())
