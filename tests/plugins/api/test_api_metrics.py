"""``/metrics`` from prometheus_client, read with prometheus_client's parser, on both delivery
stores (SQLite, Redis): attempts, latency and outcomes observed per endpoint as they happen,
what the store holds per endpoint, sessions, bad records, build and process metrics; scraped
the way Prometheus sends credentials (``Authorization: Bearer``). The shipped Grafana
dashboard only queries metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from api_service import API_KEY, build, msg, record, serving
from metrics_scrape import Scrape, scrape
from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from test_api_deliveries import every_delivery_final, until
from webhook_receiver import Receiver, fail, fails_first

GRAFANA = Path(__file__).resolve().parents[3] / "config" / "grafana" / "hookwire-dashboard.json"


def delivery_config(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "sqlite":
        return {}
    url = request.getfixturevalue("redis_url")
    return {"backend": "redis", "redis_url": url, "redis_prefix": request.getfixturevalue("redis_prefix")}


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_metrics_per_endpoint_on_both_stores_scraped_with_a_bearer_key(tmp_path, backend, request):
    async with Receiver() as rx:
        rx.respond("/ok", then=fails_first(1))  # every event: 500 once, then 200
        rx.respond("/dead", then=fail(500))
        rx.respond("/gone", then=fail(410))
        service = build(tmp_path, api={"api_key": API_KEY}, delivery=delivery_config(backend, request))
        rec = service.recording("r.jsonl", [msg(n) for n in range(3)])
        hooks = [{"url": rx.url("/ok"), "events": ["message"], "name": f"ok-{backend}",
                  "retries": {"delaySeconds": 0.05}},
                 {"url": rx.url("/dead"), "events": ["message"], "name": f"dead-{backend}",
                  "retries": {"attempts": 0}},
                 {"url": rx.url("/gone"), "events": ["message"], "name": f"gone-{backend}"}]
        async with serving(service, key=API_KEY) as api:
            before = await scrape(api)
            events_before = before.value("hookwire_events_in_total", 0, event="message", engine="SCRIPTED")
            code, _ = await api.post("/api/sessions", {"name": "s", "engine": "SCRIPTED", "config": {
                "source": "replay", "replay": rec, "webhooks": hooks}})
            assert code == 201

            await until(lambda: every_delivery_final(api, 9))
            # Prometheus' way: Authorization: Bearer <key> (and no X-Api-Key).
            async with aiohttp.ClientSession() as bare:
                url = api.base + "/metrics"
                async with bare.get(url, headers={"Authorization": f"Bearer {API_KEY}"}) as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    metrics = Scrape(await response.text())
                for refused in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEY}"}):
                    async with bare.get(url, headers=refused) as response:
                        assert response.status == 401, refused
                async with bare.get(api.base + "/api/deliveries",
                                    headers={"Authorization": f"Bearer {API_KEY}"}) as response:
                    assert response.status == 401  # Bearer is for /metrics only

    assert metrics.value("hookwire_events_in_total", event="message", engine="SCRIPTED") == events_before + 3
    # Endpoint labels: the session's webhook names (counters are the process's: one per backend).
    ok, dead, gone = f"s/ok-{backend}", f"s/dead-{backend}", f"s/gone-{backend}"
    # Attempts by status class, per endpoint.
    assert metrics.value("hookwire_delivery_attempts_total", endpoint=ok, status_class="5xx") == 3
    assert metrics.value("hookwire_delivery_attempts_total", endpoint=ok, status_class="2xx") == 3
    assert metrics.value("hookwire_delivery_attempts_total", endpoint=dead, status_class="5xx") == 3
    gone_attempts = metrics.value("hookwire_delivery_attempts_total", endpoint=gone, status_class="4xx")
    assert 1 <= gone_attempts <= 3
    assert metrics.value("hookwire_delivery_attempts_total", endpoint=ok, status_class="error") == 0
    # The latency histogram, per endpoint, observed in-process (both stores).
    assert metrics.kind("hookwire_delivery_attempt_duration_seconds") == "histogram"
    for endpoint, count in ((ok, 6), (dead, 3), (gone, gone_attempts)):
        assert metrics.value("hookwire_delivery_attempt_duration_seconds_count", endpoint=endpoint) == count
        buckets = sorted((float(dict(labels)["le"]), value) for labels, value in metrics.labelled(
            "hookwire_delivery_attempt_duration_seconds_bucket", endpoint=endpoint).items())
        assert buckets[-1] == (float("inf"), count)
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:], strict=False))  # cumulative
        assert metrics.value("hookwire_delivery_attempt_duration_seconds_sum", endpoint=endpoint) > 0
    # Outcomes of the attempts.
    assert metrics.value("hookwire_delivery_outcomes_total", endpoint=ok, outcome="retried") == 3
    assert metrics.value("hookwire_delivery_outcomes_total", endpoint=ok, outcome="delivered") == 3
    assert metrics.value("hookwire_delivery_outcomes_total", endpoint=dead, outcome="dead") == 3
    assert metrics.value("hookwire_delivery_outcomes_total", endpoint=gone, outcome="disabled") == gone_attempts
    # What the store holds, per endpoint, and the breaker's / 410's state.
    assert metrics.value("hookwire_endpoint_dead", endpoint=dead) == 3
    assert metrics.value("hookwire_endpoint_pending", endpoint=gone) == 3  # held while disabled
    assert metrics.value("hookwire_endpoint_pending", endpoint=ok) == 0
    assert metrics.value("hookwire_endpoint_state", endpoint=gone, state="disabled") == 1
    assert metrics.value("hookwire_endpoint_state", endpoint=gone, state="active") == 0
    assert metrics.value("hookwire_endpoint_state", endpoint=ok, state="active") == 1
    assert metrics.value("hookwire_deliveries", status="delivered") == 3
    assert metrics.value("hookwire_deliveries", status="dead") == 3
    assert metrics.value("hookwire_deliveries", status="disabled") == 3
    assert metrics.value("hookwire_delivery_queue_depth") == 0
    # Sessions of this kernel; build and process metrics.
    assert metrics.value("hookwire_sessions", status="STOPPED") == 1  # the replay ended
    assert metrics.value("hookwire_sessions", status="WORKING") == 0
    [build_info] = metrics.labelled("hookwire_build_info")
    assert dict(build_info)["version"]
    assert metrics.value("process_resident_memory_bytes") > 0
    assert "hookwire_bus_dropped" in metrics.families and "hookwire_bad_records" in metrics.families


async def test_bad_records_by_engine_and_sessions_by_status(tmp_path):
    service = build(tmp_path)
    (service.recordings / "bad.jsonl").write_text('{"type": "message", "data": {}}\nnot json\n[1]\n')
    live = service.recording("live.jsonl", [
        record("session.status", {"name": "w", "status": "WORKING"}, ts=1),
        record("session.status", {"name": "w", "status": "WORKING"}, ts=3_600_000)])
    async with serving(service) as api:
        before = (await scrape(api)).value("hookwire_bad_records_total", 0, engine="SCRIPTED")
        await api.post("/api/sessions", {"name": "b", "engine": "SCRIPTED",
                                         "config": {"source": "replay", "replay": "bad.jsonl"}})
        await api.post("/api/sessions", {"name": "w", "engine": "SCRIPTED",
                                         "config": {"source": "replay", "replay": live, "pace": "recorded"}})
        await api.wait_status("w", "WORKING")

        async def counted() -> Scrape | None:
            found = await scrape(api)
            done = found.value("hookwire_bad_records_total", 0, engine="SCRIPTED") == before + 2
            return found if done and found.value("hookwire_sessions", status="STOPPED") == 1 else None

        metrics = await until(counted)
    assert metrics.value("hookwire_sessions", status="WORKING") == 1
    assert metrics.value("hookwire_sessions", status="FAILED") == 0


def grafana_metric_names(dashboard: dict) -> set[str]:
    """Every metric name in the dashboard's queries (targets and template variables)."""
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    assert exprs, "the dashboard has no query"
    return {name for expr in exprs for name in re.findall(r"\b(?:hookwire|process|python)_[a-z_]+\b", expr)}


async def test_every_metric_the_grafana_dashboard_queries_exists(tmp_path):
    dashboard = json.loads(GRAFANA.read_text(encoding="utf-8"))
    assert dashboard["panels"] and dashboard["title"]
    recording = tmp_path / "g.jsonl"
    recording.write_text("".join(json.dumps(msg(n)) + "\n" for n in range(2)), encoding="utf-8")
    async with Receiver() as rx:
        service = build(tmp_path, webhooks=[{"url": rx.url("/hook"), "events": ["message"]}],
                        sessions=[{"name": "g", "source": "replay", "replay": str(recording)}])
        async with serving(service) as api:
            await rx.wait_delivered(2, "/hook", timeout=10)
            metrics = await until(lambda: _scraped_with_attempts(api))
    exposed = {name for name, _ in metrics.samples}
    # A labelled family without a sample yet (no drop so far) is there by name, with HELP/TYPE.
    missing = sorted(name for name in grafana_metric_names(dashboard) if name not in exposed
                     and re.sub(r"_(total|bucket|count|sum)$", "", name) not in metrics.families)
    assert not missing, f"the Grafana dashboard queries metrics /metrics does not have: {missing}"


async def _scraped_with_attempts(api) -> Scrape | None:
    found = await scrape(api)
    return found if found.labelled("hookwire_delivery_attempt_duration_seconds_count") else None
