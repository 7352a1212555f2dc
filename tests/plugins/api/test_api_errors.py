"""Bad input: every error is JSON ``{"error", "detail"}`` with the right status; unknown
fields are rejected with their path; bodies have a size limit; nothing ever answers with a
traceback."""

from __future__ import annotations

import json

from api_service import build, serving
from webhook_service import watch_logs


async def test_unknown_fields_are_rejected_with_their_path(tmp_path):
    async with serving(build(tmp_path)) as api:
        cases = [
            ({"name": "a", "colour": "red"}, "$.colour"),
            ({"name": "a", "config": {"webhook": []}}, "$.config.webhook"),
            ({"name": "a", "config": {"webhooks": [{"url": "http://127.0.0.1:9/", "events": ["*"],
                                                    "retries": {"delay": 2}}]}},
             "$.config.webhooks[0].retries.delay"),
            ({"name": "a", "config": {"webhooks": [{"url": "http://127.0.0.1:9/", "events": ["*"],
                                                    "customHeaders": [{"name": "A", "value": "b",
                                                                       "x": 1}]}]}},
             "$.config.webhooks[0].customHeaders[0].x"),
        ]
        for body, path in cases:
            code, error = await api.post("/api/sessions", body)
            assert code == 422, body
            field = path.rsplit(".", 1)[1]
            assert error == {"error": "invalid_body", "detail": f"unknown field `{field}` (at {path})",
                             "path": path}
        code, error = await api.post("/api/sessions", {"name": 5})
        assert (code, error["path"]) == (422, "$.name")
        assert error["detail"] == "expected `str | null`, got `int` (at $.name)"
        code, error = await api.put("/api/sessions/a", {"config": {"pace": "slow"}})
        assert (code, error["path"]) == (422, "$.config.pace")
        code, error = await api.post("/api/endpoints/enable", {})
        assert (code, error["detail"]) == (422, "object missing required field `endpoint` (at $)")


async def test_malformed_json_and_wrong_shapes(tmp_path):
    async with serving(build(tmp_path)) as api:
        code, error = await api.post("/api/sessions", raw=b"{not json")
        assert code == 400 and error["error"] == "invalid_json" and error["detail"].startswith(
            "the request body is not valid JSON")
        code, error = await api.post("/api/sessions", raw=b"[1, 2]")
        assert (code, error["error"]) == (422, "invalid_body")
        code, error = await api.post("/api/deliveries/retry", {"ids": "dlv_1"})
        assert (code, error["path"]) == (422, "$.ids")


async def test_a_body_over_the_limit_is_refused(tmp_path):
    async with serving(build(tmp_path, api={"max_body_bytes": 2048})) as api:
        big = {"name": "a", "config": {"metadata": {"k": "x" * 4096}}}
        code, error = await api.post("/api/sessions", big)
        assert (code, error["error"]) == (413, "body_too_large")
        assert error["detail"] == "the request body is larger than 2048 bytes"

        async def chunks():  # no Content-Length: the limit holds while reading
            for _ in range(8):
                yield b" " * 1024

        async with api.http.post(api.base + "/api/sessions", data=chunks(),
                                 headers={"Content-Type": "application/json"}) as response:
            assert response.status == 413
            assert (await response.json())["error"] == "body_too_large"
        code, info = await api.post("/api/sessions", {"name": "small", "start": False,
                                                      "config": {"metadata": {"k": "v"}}})
        assert code == 422  # under the limit: decoded (and refused: no default engine here)
        assert error["error"] != info["error"]


async def test_queries_unknown_routes_and_methods(tmp_path):
    async with serving(build(tmp_path)) as api:
        code, error = await api.get("/api/deliveries?limit=abc")
        assert (code, error["path"]) == (422, "query.limit")
        code, error = await api.get("/api/deliveries?limit=0")
        assert (code, error["path"]) == (422, "query.limit")
        code, error = await api.get("/api/deliveries?colour=red")
        assert (code, error["path"]) == (422, "query.colour")
        code, error = await api.get("/api/deliveries?status=lost")
        assert (code, error["path"]) == (422, "query.status")
        code, error = await api.get("/api/deliveries?status=dead&status=pending")
        assert (code, error["error"]) == (422, "invalid_query")
        code, error = await api.get("/nowhere")
        assert (code, error["error"]) == (404, "not_found")
        async with api.http.patch(api.base + "/api/sessions") as response:
            assert response.status == 405 and "GET" in response.headers["Allow"]
            assert (await response.json())["error"] == "method_not_allowed"
        code, error = await api.get("/ws")
        assert (code, error["error"]) == (426, "upgrade_required")


async def test_an_internal_error_is_logged_and_answered_without_a_traceback(tmp_path):
    service = build(tmp_path)
    with watch_logs() as logs:
        async with serving(service) as api:
            store = service.api.delivery.store
            await store.close()  # the store goes away under the API
            code, error = await api.get("/api/deliveries")
            assert (code, error) == (500, {"error": "internal",
                                           "detail": "an internal error; it was logged", "path": None})
            code, health = await api.get("/health")
            assert (code, health["status"]) == (503, "error")
            assert health["error"]["delivery"]["message"].startswith("cannot read the delivery store")
            await store.open()
    [failed] = logs.find("API request failed", path="/api/deliveries")
    assert failed["exc_info"] is True and "AssertionError" in failed["error"]
    assert "Traceback" not in json.dumps(error)


async def test_wahas_config_is_accepted_with_nulls_and_checked_to_its_leaves(tmp_path):
    service = build(tmp_path)
    rec = service.recording("r.jsonl", [])
    nulls = {"metadata": None, "proxy": None, "debug": None, "ignore": None, "client": None,
             "noweb": None, "gows": None, "webjs": None, "webhooks": None}
    with watch_logs() as logs:
        async with serving(service) as api:
            code, info = await api.post("/api/sessions", {"name": None, "start": False, "engine": "SCRIPTED",
                                                          "config": None, "apps": None})
            assert code == 201 and info["name"].startswith("session_") and len(info["name"]) == 34
            code, info = await api.post("/api/sessions", {"name": "n", "start": None, "engine": "SCRIPTED",
                                                          "config": {**nulls, "source": "replay",
                                                                     "replay": rec,
                                                                     "noweb": {"markOnline": None,
                                                                               "store": None}}})
            assert code == 201, info
            assert info["config"] == {"source": "replay", "replay": rec, "noweb": {}}  # unset: left out
            assert info["warnings"] == []
            bad = [({"noweb": {"colour": 1}}, "$.config.noweb.colour"),
                   ({"ignore": {"groups": "yes"}}, "$.config.ignore.groups"),
                   ({"client": {"deviceName": 5}}, "$.config.client.deviceName"),
                   ({"webhooks": [{"url": "http://127.0.0.1:9/", "events": ["message"],
                                   "retries": {"attempts": 1.5}}]},
                    "$.config.webhooks[0].retries.attempts"),
                   ({"webhooks": [{"url": "http://127.0.0.1:9/", "events": ["message"],
                                   "customHeaders": [{"name": "X-A", "value": "1"},
                                                     {"name": "x-a", "value": "2"}]}]},
                    "$.config.webhooks[0].customHeaders[1].name")]
            for config, path in bad:
                code, error = await api.post("/api/sessions", {"name": "b", "engine": "SCRIPTED",
                                                               "config": config})
                assert (code, error["path"]) == (422, path), (config, error)
            code, info = await api.post("/api/sessions", {"name": "w", "engine": "SCRIPTED", "start": False,
                                                          "config": {"source": "replay", "replay": rec,
                                                                     "gows": {"storage": None}}})
            assert code == 201 and info["warnings"] == [
                "config.gows: kept, not applied (hookwire has no GOWS engine)"]
    [warning] = logs.find("session config kept but not applied", session="w")
    assert warning["log_level"] == "warning" and warning["error"].startswith("config.gows")
