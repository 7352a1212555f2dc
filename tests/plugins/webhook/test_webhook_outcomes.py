"""Outcomes of attempts against real receivers (``webhook-contract.md`` §5): retries,
``Retry-After``, redirects, non-retryable statuses, 410 and dead letters, with the CLI
(``deliveries``, ``endpoints``) run as subprocesses on the same store file."""

from __future__ import annotations

import email.utils
import json
import time

from webhook_process import run_core
from webhook_receiver import Receiver, fail, ok, redirect
from webhook_service import build_service, message, watch_logs

NO_BREAKER = {"failures": 0}


def rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


async def test_500_500_200_is_three_attempts_with_one_request_id(tmp_path):
    async with Receiver() as rx:
        rx.respond("/hook", fail(500), fail(500), then=ok())
        service = build_service(tmp_path, webhooks=[{"url": rx.url(), "events": ["message"],
                                                     "retries": {"delay_seconds": 0}}],
                                sessions={"default": [message("1@c.us", 1)]})
        with watch_logs() as logs:
            await service.run_to_end()
    assert [r.answered for r in rx.requests] == [500, 500, 200]
    assert [r.attempt for r in rx.requests] == [1, 2, 3]
    assert len({r.request_id for r in rx.requests}) == 1
    attempts = logs.find("delivery attempt")
    assert [(a["attempt"], a["status"], a["outcome"]) for a in attempts] == [
        (1, 500, "pending"), (2, 500, "pending"), (3, 200, "delivered")]
    assert {a["delivery_id"] for a in attempts} == {rx.requests[0].request_id}
    assert {a["event_id"] for a in attempts} == {rx.requests[0].event_id}
    assert all(a["event_name"] == "message" and a["session"] == "default" and a["url"] == rx.url()
               and a["error"] is None and isinstance(a["duration_ms"], float) for a in attempts)
    assert [type(a["next_attempt_at"]) for a in attempts] == [int, int, type(None)]


async def test_retry_after_on_429_and_503_lengthens_the_delay_up_to_the_max(tmp_path):
    """Three endpoints at once: seconds on 429, an HTTP date on 503 (capped by the max
    delay), and a 500 whose Retry-After is not a reason to wait."""
    async with Receiver() as rx:
        rx.respond("/seconds", fail(429, headers={"Retry-After": "1"}), then=ok())
        http_date = email.utils.formatdate(time.time() + 4, usegmt=True)
        rx.respond("/date", fail(503, headers={"Retry-After": http_date}), then=ok())
        rx.respond("/ignored", fail(500, headers={"Retry-After": "30"}), then=ok())
        webhooks = [
            {"url": rx.url("/seconds"), "events": ["message"], "retries": {"schedule": [0.01]}},
            {"url": rx.url("/date"), "events": ["message"],
             "retries": {"schedule": [0.01], "max_delay_seconds": 0.8}},
            {"url": rx.url("/ignored"), "events": ["message"], "retries": {"schedule": [0.01]}},
        ]
        service = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", 1)]})
        await service.run_to_end()

    def gap(path: str) -> float:
        first, second = rx.at(path)
        assert (first.attempt, second.attempt, second.answered) == (1, 2, 200)
        return second.at - first.at

    assert 0.95 <= gap("/seconds") < 3
    assert 0.75 <= gap("/date") < 2.5  # waited, but not the 3-4 s the date asked for
    assert gap("/ignored") < 0.5


async def test_redirects_are_failures_and_never_followed(tmp_path, scripted_site):
    async with Receiver() as rx:
        for code in (301, 302, 307, 308):
            rx.respond(f"/moved-{code}", then=redirect(rx.url("/target"), code))
        webhooks = [{"url": rx.url(f"/moved-{code}"), "events": ["message"],
                     "retries": {"schedule": [0.01]}, "circuit_breaker": NO_BREAKER}
                    for code in (301, 302, 307, 308)]
        service = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", 1)]})
        await service.run_to_end()
        code, out, err = await run_core(scripted_site, "--config", str(service.config),
                                        "deliveries", "list", "--status", "dead", "--json")
    assert rx.at("/target") == []
    assert sorted((r.path, r.answered) for r in rx.requests) == sorted(
        (f"/moved-{c}", c) for c in (301, 302, 307, 308) for _ in range(2))
    assert code == 0, err
    dead = rows(out)
    assert sorted(d["last_status"] for d in dead) == [301, 302, 307, 308]
    assert all(d["attempts"] == 2 for d in dead)


async def test_non_retryable_statuses_make_a_delivery_dead_at_once(tmp_path):
    async with Receiver() as rx:
        rx.respond("/strict", then=fail(422))
        rx.respond("/lenient", fail(404), then=ok())
        webhooks = [
            {"url": rx.url("/strict"), "events": ["message"], "non_retryable_statuses": [400, 422],
             "retries": {"schedule": [0.01, 0.01]}},
            {"url": rx.url("/lenient"), "events": ["message"], "non_retryable_statuses": [400, 422],
             "retries": {"schedule": [0.01, 0.01]}},
        ]
        service = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", 1)]})
        with watch_logs() as logs:
            await service.run_to_end()
    assert [r.answered for r in rx.at("/strict")] == [422]
    assert [r.answered for r in rx.at("/lenient")] == [404, 200]
    [dead] = logs.find("delivery dead")
    assert dead["log_level"] == "error"
    assert (dead["url"], dead["status"], dead["attempt"]) == (rx.url("/strict"), 422, 1)
    assert service.kernel.summary()["webhook"]["dead"] == 1


async def test_dead_letters_are_listed_and_resent_by_id_and_by_status(tmp_path, scripted_site):
    webhook = {"url": "", "events": ["message"], "retries": {"schedule": [0.01]},
               "circuit_breaker": NO_BREAKER}
    records = [message("1@c.us", n) for n in range(3)]
    async with Receiver() as rx:
        webhook["url"] = rx.url()
        rx.respond("/hook", then=fail(500))
        first = build_service(tmp_path, webhooks=[webhook], sessions={"default": records})
        with watch_logs() as logs:
            await first.run_to_end()
        assert len(logs.find("delivery dead", log_level="error")) == 3
        assert first.kernel.summary()["webhook"]["dead"] == 3
        assert len(rx.requests) == 6

        config = str(first.config)
        code, out, err = await run_core(scripted_site, "--config", config, "deliveries", "list",
                                        "--status", "dead", "--json")
        assert code == 0, err
        dead = rows(out)
        assert len(dead) == 3
        for row in dead:
            assert {"id", "event_id", "event_name", "session", "url", "status", "attempts",
                    "last_status", "next_attempt_at"} <= set(row)
            assert (row["status"], row["attempts"], row["last_status"], row["event_name"],
                    row["session"], row["url"]) == ("dead", 2, 500, "message", "default", rx.url())
        assert {row["event_id"] for row in dead} == {r.event_id for r in rx.requests}
        code, out, err = await run_core(scripted_site, "--config", config, "deliveries", "show",
                                        dead[0]["id"], "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert [(a["attempt"], a["status"]) for a in shown["attempt_log"]] == [(1, 500), (2, 500)]

        # The receiver is fixed; the service runs again (no new events) and the CLI re-sends
        # while it runs: one delivery by id, then every dead one.
        rx.respond("/hook", then=ok())
        second = build_service(tmp_path, webhooks=[webhook], sessions={}, exit_when_done=False)
        async with second.running():
            code, out, err = await run_core(scripted_site, "--config", config, "deliveries",
                                            "retry", dead[0]["id"])
            assert (code, out.strip()) == (0, "1 deliveries queued for re-sending"), err
            [resent] = await rx.wait_delivered(1)
            assert (resent.request_id, resent.attempt) == (dead[0]["id"], 3)
            code, out, err = await run_core(scripted_site, "--config", config, "deliveries",
                                            "retry", "--status", "dead")
            assert (code, out.strip()) == (0, "2 deliveries queued for re-sending"), err
            delivered = await rx.wait_delivered(3)
    assert sorted(r.request_id for r in delivered) == sorted(row["id"] for row in dead)
    code, out, err = await run_core(scripted_site, "--config", config, "deliveries", "list", "--json")
    assert code == 0, err
    assert sorted((row["status"], row["attempts"]) for row in rows(out)) == [("delivered", 3)] * 3
    code, out, err = await run_core(scripted_site, "--config", config, "deliveries", "retry", "dlv_nope")
    assert (code, out.strip()) == (1, "0 deliveries queued for re-sending")


async def test_410_disables_the_endpoint_keeps_its_deliveries_and_enable_drains_them(
        tmp_path, scripted_site):
    records = [message("1@c.us", n) for n in range(5)]
    async with Receiver() as rx:
        rx.respond("/gone", fail(410), then=ok())
        service = build_service(
            tmp_path, sessions={"default": records}, exit_when_done=False,
            webhooks=[{"url": rx.url("/gone"), "events": ["message"], "concurrency": 1,
                       "retries": {"schedule": [0.01, 0.01]}}])
        config = str(service.config)
        with watch_logs() as logs:
            async with service.running():
                [disabled] = await logs.wait_for("endpoint disabled: it answered 410 Gone; "
                                                 "pending deliveries are kept")
                assert disabled["log_level"] == "warning" and disabled["url"] == rx.url("/gone")
                code, out, err = await run_core(scripted_site, "--config", config, "endpoints",
                                                "list", "--json")
                assert code == 0, err
                [endpoint] = rows(out)
                assert (endpoint["state"], endpoint["reason"], endpoint["pending"]) == (
                    "disabled", "410 Gone", 5)
                code, out, err = await run_core(scripted_site, "--config", config, "deliveries",
                                                "list", "--status", "disabled", "--json")
                assert code == 0, err
                assert len(rows(out)) == 5
                # Nothing more was sent after the 410, not even what was already claimed.
                assert [r.answered for r in rx.requests] == [410]

                code, out, err = await run_core(scripted_site, "--config", config, "endpoints",
                                                "enable", rx.url("/gone"))
                assert code == 0, err
                assert out.strip() == f"endpoint {rx.url('/gone')} enabled; 5 held deliveries queued"
                await rx.wait_delivered(5)
                await logs.wait_for("endpoint enabled")
    assert sorted(r.event_id for r in rx.delivered()) == sorted({r.event_id for r in rx.requests})
    assert len(rx.requests) == 6
    code, out, err = await run_core(scripted_site, "--config", config, "deliveries", "list", "--json")
    assert sorted(row["status"] for row in rows(out)) == ["delivered"] * 5
    code, out, err = await run_core(scripted_site, "--config", config, "endpoints", "enable", "http://nope/")
    assert code == 1 and "no endpoint" in err
