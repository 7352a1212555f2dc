"""Isolation per endpoint: a black-holed URL never delays another; the circuit breaker pauses
a failing endpoint and probes it instead of spending attempts."""

from __future__ import annotations

import json
import time

from webhook_process import run_core
from webhook_receiver import Receiver, black_hole, fail, ok
from webhook_service import Service, build_service, message, store_statuses, watch_logs

EVENTS = 100


async def _time_to_deliver_all(tmp_path, name: str, healthy: Receiver, other: dict,
                               hole: Receiver | None = None) -> tuple[float, Service, list[int | None]]:
    """Seconds from "kernel ready" until the healthy endpoint has every event, and the answers
    the black hole (if any) had given by then; the service is then stopped as by SIGTERM."""
    service = build_service(
        tmp_path, name=name, exit_when_done=False, kernel={"grace_seconds": 0.5},
        sessions={"default": [message(f"{n % 5}@c.us", n) for n in range(EVENTS)]},
        webhooks=[{"url": healthy.url("/healthy"), "events": ["message"]}, other])
    async with service.running():
        started = time.monotonic()
        await healthy.wait_delivered(EVENTS, "/healthy")
        elapsed = time.monotonic() - started
        held = [r.answered for r in hole.requests] if hole else []
    return elapsed, service, held


async def test_a_black_holed_endpoint_does_not_slow_a_healthy_one(tmp_path):
    async with Receiver() as healthy, Receiver() as other, Receiver() as hole:
        hole.respond("/void", then=black_hole())
        baseline, _, _ = await _time_to_deliver_all(
            tmp_path, "baseline", healthy, {"url": other.url("/other"), "events": ["message"]})
        healthy.requests.clear()
        with watch_logs() as logs:
            with_hole, service, held = await _time_to_deliver_all(
                tmp_path, "black-hole", healthy,
                {"url": hole.url("/void"), "events": ["message"], "timeout_seconds": 30,
                 "concurrency": 2}, hole)
        # Every healthy delivery arrived while the black hole held two requests (its in-flight
        # limit), unanswered; it got no more before the service stopped.
        assert held == [None, None]
        assert len(hole.requests) == 2
        assert logs.find("grace period over, stopping with work in flight")
    assert sorted(r.json()["payload"]["seq"] for r in healthy.delivered("/healthy")) == list(range(EVENTS))
    assert with_hole < 3 * baseline + 1.0, (baseline, with_hole)
    # The black hole's deliveries stay in the store for later (in flight ones are resumed).
    statuses = store_statuses(service.config)
    assert statuses[(healthy.url("/healthy"), "delivered")] == EVENTS
    void = {status: n for (endpoint, status), n in statuses.items() if endpoint == hole.url("/void")}
    assert set(void) <= {"pending", "in_flight"} and sum(void.values()) == EVENTS


async def test_the_circuit_breaker_pauses_a_failing_endpoint_and_probes_it(tmp_path, scripted_site):
    probe = 0.3
    async with Receiver() as rx:
        rx.respond("/flaky", then=fail(500))
        service = build_service(
            tmp_path, sessions={"default": [message("1@c.us", n) for n in range(6)]},
            webhooks=[{"url": rx.url("/flaky"), "events": ["message"], "concurrency": 1,
                       "retries": {"delay_seconds": 0.01, "attempts": 1000},
                       "circuit_breaker": {"failures": 3, "probe_seconds": probe}}])
        with watch_logs() as logs:
            async with service.running():
                [paused] = await logs.wait_for("endpoint paused by the circuit breaker")
                before_pause = len(rx.requests)
                probes = (await rx.wait_for(before_pause + 2))[before_pause:]
                code, out, err = await run_core(scripted_site, "--config", str(service.config),
                                                "endpoints", "list", "--json")
                rx.respond("/flaky", then=ok())
                await logs.wait_for("endpoint resumed")
                await rx.wait_delivered(6)
    assert paused["log_level"] == "warning"
    assert (paused["consecutive_failures"], paused["status"], paused["url"]) == (3, 500, rx.url("/flaky"))
    assert before_pause == 3
    # While paused: one probe per probe interval, not a burst of the queued deliveries.
    assert probes[0].at - paused["_at"] >= probe * 0.9
    assert probes[1].at - probes[0].at >= probe * 0.9
    assert code == 0, err
    [endpoint] = [json.loads(line) for line in out.splitlines()]
    assert endpoint["state"] == "paused" and endpoint["consecutive_failures"] >= 3
    assert endpoint["pending"] == 6
    # Pending deliveries waited; none was killed by the pause.
    assert not logs.find("delivery dead")
    assert sorted(r.json()["payload"]["seq"] for r in rx.delivered()) == list(range(6))
