"""The whole service on the Redis backend (role ``all``, in-process, the real dispatcher) and the
``deliveries``/``endpoints`` commands against the same Redis, as real subprocesses."""

from __future__ import annotations

import json
from collections import defaultdict

from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from webhook_process import run_core
from webhook_receiver import Receiver, fail, fails_first, free_port, ok
from webhook_service import build_service, message


def redis_delivery(url: str, prefix: str) -> dict[str, str]:
    return {"backend": "redis", "redis_url": url, "redis_prefix": prefix}


async def test_the_service_delivers_through_redis_in_chat_order_with_retries_and_dead_letters(
        tmp_path, redis_url, redis_prefix, scripted_site):
    chats = [f"{n % 3}@c.us" for n in range(30)]
    async with Receiver() as rx:
        rx.respond("/ordered", then=fails_first(1))  # every event fails once, then succeeds
        rx.respond("/dead", then=fail(500))
        service = build_service(
            tmp_path, sessions={"default": [message(chat, n) for n, chat in enumerate(chats)]},
            delivery=redis_delivery(redis_url, redis_prefix),
            webhooks=[{"url": rx.url("/ordered"), "events": ["message"], "ordering": "chat",
                       "retries": {"delay_seconds": 0.01}},
                      {"url": rx.url("/dead"), "events": ["message"], "retries": {"attempts": 1, "delay_seconds": 0.01},
                       "circuit_breaker": {"failures": 0}}])
        await service.run_to_end(timeout=30)
    summary = service.kernel.summary()["webhook"]
    assert (summary["events"], summary["delivered"], summary["dead"]) == (30, 30, 30)
    by_chat: dict[str, list[int]] = defaultdict(list)
    for request in rx.delivered("/ordered"):
        body = request.json()
        by_chat[body["payload"]["from"]].append(body["payload"]["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_chat.values())  # FIFO per chat
    assert sum(map(len, by_chat.values())) == 30

    config = str(service.config)
    code, out, err = await cli(scripted_site, config, "deliveries", "list", "--status", "dead", "--json")
    assert code == 0, err
    dead = [json.loads(line) for line in out.splitlines()]
    assert len(dead) == 30 and {row["attempts"] for row in dead} == {2}
    code, out, _ = await cli(scripted_site, config, "deliveries", "show", dead[0]["id"], "--json")
    assert [a["status"] for a in json.loads(out)["attempt_log"]] == [500, 500]
    code, out, _ = await cli(scripted_site, config, "endpoints", "list", "--json")
    rows = {row["url"]: row for row in map(json.loads, out.splitlines())}
    assert (rows[rx.url("/dead")]["dead"], rows[rx.url("/ordered")]["pending"]) == (30, 0)
    code, out, _ = await cli(scripted_site, config, "deliveries", "retry", "--status", "dead")
    assert (code, out.strip()) == (0, "30 deliveries queued for re-sending")


async def cli(site, config: str, *args: str) -> tuple[int, str, str]:
    """``python -m core --config CONFIG ARGS`` as a subprocess."""
    return await run_core(site, "--config", config, *args, cwd=site)


async def test_a_410_disables_the_endpoint_for_every_worker_and_enable_resumes(tmp_path, redis_url, redis_prefix,
                                                                     scripted_site):
    async with Receiver() as rx:
        rx.respond("/gone", fail(410), then=ok())
        webhooks = [{"url": rx.url("/gone"), "events": ["message"], "concurrency": 1}]
        service = build_service(tmp_path, sessions={"default": [message("1@c.us", n) for n in range(5)]},
                                delivery=redis_delivery(redis_url, redis_prefix), webhooks=webhooks)
        await service.run_to_end(timeout=20)
        assert len(rx.requests) == 1
        config = str(service.config)
        code, out, _ = await cli(scripted_site, config, "endpoints", "list", "--json")
        [row] = [json.loads(line) for line in out.splitlines()]
        assert (row["state"], row["reason"], row["pending"]) == ("disabled", "410 Gone", 5)
        code, out, _ = await cli(scripted_site, config, "endpoints", "enable", rx.url("/gone"))
        assert (code, out.strip()) == (0, f"endpoint {rx.url('/gone')} enabled; 5 held deliveries queued")
        again = build_service(tmp_path, sessions={}, delivery=redis_delivery(redis_url, redis_prefix),
                              webhooks=webhooks, name="again")
        await again.run_to_end(timeout=20)
    assert len(rx.delivered()) == 5


async def test_commands_fail_with_one_clear_line_when_redis_does_not_answer(tmp_path, scripted_site):
    url = f"redis://127.0.0.1:{free_port()}/0"
    service = build_service(tmp_path, sessions={}, delivery=redis_delivery(url, "nobody"),
                            webhooks=[{"url": "http://127.0.0.1:9/hook", "events": ["message"]}])
    for args in (("deliveries", "list"), ("endpoints", "list")):
        code, out, err = await cli(scripted_site, str(service.config), *args)
        assert code == 2 and out == ""
        [said] = [line for line in err.splitlines() if not line.startswith("{")]  # not a log line
        assert said.startswith(f"hookwire: config error: [delivery] redis_url: cannot reach Redis at {url}")
        assert "Traceback" not in err
