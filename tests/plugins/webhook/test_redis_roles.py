"""Roles (``--role``, ``HOOKWIRE_ROLE``, ``[kernel] role``): ``engines`` writes deliveries and
sends none, ``worker`` runs no session and delivers. On SQLite the two share one file on one
host; the Redis case (many workers) is ``test_redis_workers.py``."""

from __future__ import annotations

import json
from collections import Counter

from webhook_process import core_process, run_core
from webhook_receiver import Receiver
from webhook_service import message, write_config, write_records


async def effective(site, config, *args: str, env: dict[str, str] | None = None) -> dict:
    code, out, err = await run_core(site, "--config", str(config), *args, "check-config", env=env)
    assert code == 0, err
    return json.loads(out.split("\n", 1)[1])


async def test_the_role_comes_from_the_flag_then_the_environment_then_the_file(tmp_path, scripted_site):
    recording = write_records(tmp_path / "r.jsonl", [message("1@c.us", 1)])
    config = write_config(tmp_path / "c.toml", kernel={"role": "engines", "exit_when_done": True},
                          sessions=[{"name": "s", "engine": "SCRIPTED", "replay": str(recording)}])
    assert (await effective(scripted_site, config))["kernel"]["role"] == "engines"
    worker = await effective(scripted_site, config, env={"HOOKWIRE_ROLE": "worker"})
    # A worker runs no session and never ends by itself.
    assert (worker["kernel"]["role"], worker["sessions"], worker["kernel"]["exit_when_done"]) == ("worker", [], False)
    flagged = await effective(scripted_site, config, "--role", "all", env={"HOOKWIRE_ROLE": "worker"})
    assert flagged["kernel"]["role"] == "all" and len(flagged["sessions"]) == 1


async def test_a_bad_role_is_a_config_error_naming_the_variable(tmp_path, scripted_site):
    config = write_config(tmp_path / "c.toml")
    code, out, err = await run_core(scripted_site, "--config", str(config), "check-config",
                                    env={"HOOKWIRE_ROLE": "boss"})
    assert code == 2 and out == ""
    assert "hookwire: config error: HOOKWIRE_ROLE: expected one of all, engines, worker, found 'boss'" in err
    code, _, err = await run_core(scripted_site, "--config", str(config), "--role", "boss")
    assert code == 2 and "invalid choice: 'boss'" in err


async def test_engines_and_a_worker_share_one_sqlite_file(tmp_path, scripted_site):
    count = 60
    burst = write_records(tmp_path / "burst.jsonl", [message(f"{n % 4}@c.us", n) for n in range(count)])
    async with Receiver() as rx:
        config = write_config(tmp_path / "shared.toml", webhooks=[
            {"url": rx.url(), "events": ["message"], "ordering": "chat"}])
        async with core_process(scripted_site, "--config", str(config), "--role", "worker",
                                cwd=tmp_path) as worker:
            await worker.wait_log("kernel ready")
            code, out, err = await run_core(scripted_site, "--config", str(config), "--role", "engines",
                                            "replay", str(burst), "--engine", "SCRIPTED", cwd=tmp_path)
            assert code == 0, err
            summary = json.loads(out.strip().splitlines()[-1])["webhook"]
            assert (summary["events"], summary["deliveries"], summary["delivered"]) == (count, count, 0)
            await rx.wait_delivered(count, timeout=30)
            worker.process.terminate()
            assert await worker.wait() == 0
    received = Counter(r.json()["payload"]["seq"] for r in rx.delivered())
    assert received == Counter(range(count))  # each event once, sent by the worker
    by_chat: dict[str, list[int]] = {}
    for request in rx.delivered():
        body = request.json()["payload"]
        by_chat.setdefault(body["from"], []).append(body["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_chat.values())
