"""The operator commands tell the truth: a listing cut at ``--limit`` says so, and a re-send
says whether a running service will send it or it waits for the next start. Real
``python -m core`` subprocesses against a real SQLite store (and a real Redis)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

import anyio
from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from webhook_process import core_command, core_env, core_process, run_core
from webhook_receiver import Receiver
from webhook_service import store_file, store_statuses, write_config

from plugins.webhook.sqlite_store import SQLiteDeliveryStore
from plugins.webhook.store import NewDelivery, StoredEvent

CUT = ("# the list is cut at {n} deliveries (--limit); more match: --limit N shows up to N, "
       "--all shows every one")


async def dead_deliveries(config: Path, count: int, url: str) -> None:
    """``count`` dead deliveries to ``url``, written straight into the config's store."""
    store = SQLiteDeliveryStore(store_file(config))
    await store.open()
    try:
        await store.set_endpoint(url, url, "active", None, 0, None, None)
        events = [StoredEvent(f"evt_{n:05d}", "message", "default", n, b'{"n": %d}' % n)
                  for n in range(count)]
        await store.add(events, [NewDelivery(f"dlv_{n:05d}", f"evt_{n:05d}", url, url, "default/c",
                                             0, status="dead") for n in range(count)])
    finally:
        await store.close()


async def test_deliveries_list_says_when_it_is_cut_and_how_to_see_every_one(tmp_path, scripted_site):
    url = "http://127.0.0.1:9/hook"
    config = write_config(tmp_path / "hookwire.toml", webhooks=[{"url": url, "events": ["message"]}])
    await dead_deliveries(config, 150, url)
    cut = CUT.format(n=100)

    async def listing(*args: str) -> tuple[list[str], str]:
        code, out, err = await run_core(scripted_site, "--config", str(config), "deliveries", "list",
                                        "--status", "dead", *args)
        assert code == 0, err
        return out.splitlines(), err

    rows, err = await listing()
    assert len(rows) == 100 and rows[0].startswith("dlv_00000 ") and rows[-1].startswith("dlv_00099 ")
    assert cut in err
    rows, err = await listing("--json")
    assert [json.loads(r)["id"] for r in rows] == [f"dlv_{n:05d}" for n in range(100)]
    assert cut in err  # on stderr: the JSON lines on stdout stay JSON lines
    rows, err = await listing("--limit", "149", "--json")
    assert len(rows) == 149 and CUT.format(n=149) in err
    for exact in (("--limit", "150"), ("--all",), ("--all", "--json")):
        rows, err = await listing(*exact)
        assert len(rows) == 150 and "cut" not in err, exact
    code, out, err = await run_core(scripted_site, "--config", str(config), "deliveries", "list",
                                    "--limit", "0")
    assert (code, out) == (2, "") and "--limit: expected 1 to 1,000,000 (or --all), found 0" in err
    code, _, err = await run_core(scripted_site, "--config", str(config), "deliveries", "list",
                                  "--limit", "5", "--all")
    assert code == 2 and "not allowed with argument" in err


async def test_retry_says_the_resends_wait_when_no_service_runs_on_the_store(tmp_path, scripted_site):
    url = "http://127.0.0.1:9/hook"
    config = write_config(tmp_path / "hookwire.toml", webhooks=[{"url": url, "events": ["message"]}])
    await dead_deliveries(config, 3, url)
    code, out, err = await run_core(scripted_site, "--config", str(config), "deliveries", "retry",
                                    "--status", "dead")
    assert (code, out.strip()) == (0, "3 deliveries queued for re-sending"), err
    assert (f"hookwire: no delivery service runs on {store_file(config)}: they wait in the store and "
            "are sent when a service starts on it") in err
    assert store_statuses(config) == {(url, "pending"): 3}


async def test_retry_and_enable_name_the_running_service_and_a_killed_one_is_not_counted(
        tmp_path, scripted_site):
    async with Receiver() as rx:
        url = rx.url("/hook")
        config = write_config(tmp_path / "hookwire.toml", kernel={"exit_when_done": False},
                              webhooks=[{"url": url, "events": ["message"]}])
        await dead_deliveries(config, 4, url)

        async def retry(*ids: str) -> str:
            code, out, err = await run_core(scripted_site, "--config", str(config), "deliveries",
                                            "retry", *ids)
            assert code == 0 and out.strip() == f"{len(ids)} deliveries queued for re-sending", err
            return err

        # The engines role writes deliveries but sends none: it does not count.
        async with core_process(scripted_site, "--config", str(config), "--role", "engines") as engines:
            await engines.wait_log("kernel ready")
            assert "no delivery service runs on" in await retry("dlv_00000")
            engines.process.send_signal(signal.SIGTERM)
            assert await engines.wait() == 0
        async with core_process(scripted_site, "--config", str(config)) as service:
            await service.wait_log("kernel ready")
            await rx.wait_delivered(1)  # the re-send that waited in the store
            err = await retry("dlv_00001")
            assert (f"# the delivery service running on {store_file(config)} "
                    f"(pid {service.process.pid}) sends them within a second") in err
            await rx.wait_delivered(2)
            service.process.kill()  # kill -9: the kernel drops its lock with the process
            await service.wait()
        err = await retry("dlv_00002")
        assert "no delivery service runs on" in err
        code, out, err = await run_core(scripted_site, "--config", str(config), "endpoints", "enable", url)
        assert code == 0 and "no delivery service runs on" in err, (out, err)
    assert sorted(r.request_id for r in rx.delivered()) == ["dlv_00000", "dlv_00001"]


async def test_retry_on_redis_counts_the_live_workers(tmp_path, scripted_site, redis_url, redis_prefix):
    from plugins.webhook.redis_store import RedisDeliveryStore

    async with Receiver() as rx:
        url = rx.url("/hook")
        delivery = {"backend": "redis", "redis_url": redis_url, "redis_prefix": redis_prefix}
        config = write_config(tmp_path / "hookwire.toml", kernel={"exit_when_done": False},
                              delivery=delivery, webhooks=[{"url": url, "events": ["message"]}])
        store = RedisDeliveryStore(redis_url, prefix=redis_prefix, wait=False)
        await store.open()
        try:
            await store.set_endpoint(url, url, "active", None, 0, None, None)
            await store.add([StoredEvent("evt_1", "message", "default", 1, b"{}")],
                            [NewDelivery("dlv_1", "evt_1", url, url, "default/c", 0)])
        finally:
            await store.close()

        async def enable() -> str:
            code, out, err = await run_core(scripted_site, "--config", str(config), "endpoints",
                                            "enable", url)
            assert code == 0, (out, err)
            return err

        assert f"no delivery worker runs on Redis (prefix {redis_prefix!r})" in await enable()
        async with core_process(scripted_site, "--config", str(config), "--role", "worker") as worker:
            await rx.wait_delivered(1)  # the worker claimed: its sign of life is in Redis
            assert "# 1 delivery worker(s) on Redis sends them within a second" in await enable()
            worker.process.send_signal(signal.SIGTERM)  # a clean stop removes its sign of life
            assert await worker.wait() == 0
        assert "no delivery worker runs on Redis" in await enable()


async def test_listings_piped_into_head_stop_quietly(tmp_path, scripted_site):
    url = "http://127.0.0.1:9/hook"
    config = write_config(tmp_path / "hookwire.toml", webhooks=[{"url": url, "events": ["message"]}])
    await dead_deliveries(config, 2000, url)
    env = core_env(scripted_site)
    for args in (("deliveries", "list", "--all"), ("deliveries", "list", "--all", "--json"),
                 ("deliveries", "list"), ("endpoints", "list")):
        command = core_command("--config", str(config), *args)
        # A real `| head -n 1`: head exits after one line, the writer's next write fails.
        shell = " ".join(map(shlex.quote, command)) + " 2>err.txt | head -n 1; echo \"${PIPESTATUS[0]}\""
        done = await anyio.run_process(["bash", "-c", shell], env=env, cwd=tmp_path, check=False)
        first, status = done.stdout.decode().splitlines()
        err = (tmp_path / "err.txt").read_text()
        assert "Traceback" not in err and "BrokenPipeError" not in err, (args, err)
        assert first.startswith(("dlv_00000", '{"id":"dlv_00000"', url)), (args, first)
        # A listing that fits in the pipe before head exits may end normally.
        assert status in ("0", "141"), (args, status, err)
    # A reader that is gone before the first write: the write fails for sure.
    read, write = os.pipe()
    os.close(read)
    try:
        done = await anyio.run_process(core_command("--config", str(config), "deliveries", "list", "--all"),
                                       env=env, cwd=tmp_path, stdout=write, check=False)
    finally:
        os.close(write)
    assert done.returncode == 141 and b"Traceback" not in done.stderr, done.stderr[-2000:]
