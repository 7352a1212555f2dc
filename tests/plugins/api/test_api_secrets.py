"""A secret read back is never written back as its mask ([hardening] §5): GET shows ``***`` for
HMAC keys, Standard Webhooks secrets, secret-bearing custom headers, URL passwords and the
proxy password; a PUT that sends the mask back keeps the stored secret. The round trip is
checked where it matters: on the deliveries a real receiver gets."""

from __future__ import annotations

import base64
import hashlib
import hmac

from api_service import build, msg, serving
from standardwebhooks import Webhook
from webhook_receiver import Receiver

HMAC_KEY = "original-hmac-key"
SECRET = "whsec_" + base64.b64encode(b"original-standard-webhooks-key").decode()
TOKEN = "Bearer original-token"


def config(rx: Receiver, rec: str) -> dict:
    basic = rx.url("/basic").replace("http://", "http://user:pa55word@")
    return {"source": "replay", "replay": rec, "proxy": {"server": "proxy:3128", "password": "pp"},
            "webhooks": [
                {"url": rx.url("/signed"), "events": ["message"], "hmac": {"key": HMAC_KEY},
                 "secrets": [SECRET],
                 "customHeaders": [{"name": "Authorization", "value": TOKEN},
                                   {"name": "X-Api-Key", "value": "api-key-value"},
                                   {"name": "X-Team", "value": "blue"}]},
                {"url": basic, "events": ["message"]}]}


async def test_get_then_put_the_same_config_keeps_every_secret(tmp_path):
    async with Receiver() as rx:
        service = build(tmp_path)
        rec = service.recording("r.jsonl", [msg(n) for n in range(2)])
        async with serving(service) as api:
            code, created = await api.post("/api/sessions", {
                "name": "s", "engine": "SCRIPTED", "start": False, "config": config(rx, rec)})
            assert code == 201, created
            code, got = await api.get("/api/sessions/s")
            shown = got["config"]
            signed, basic = shown["webhooks"]
            assert signed["hmac"] == {"key": "***"} and signed["secrets"] == ["***"]
            assert signed["customHeaders"] == [{"name": "Authorization", "value": "***"},
                                               {"name": "X-Api-Key", "value": "***"},
                                               {"name": "X-Team", "value": "blue"}]
            assert basic["url"] == rx.url("/basic").replace("http://", "http://user:***@")
            assert shown["proxy"] == {"server": "proxy:3128", "password": "***"}

            code, put = await api.put("/api/sessions/s", {"config": shown})  # exactly as read
            assert code == 200, put
            assert put["config"] == shown  # still shown masked, still stored in clear
            code, _ = await api.post("/api/sessions/s/start")
            assert code == 201
            received = await rx.wait_delivered(2, "/signed")
            basics = await rx.wait_delivered(2, "/basic")
    for request in received:
        expected = hmac.new(HMAC_KEY.encode(), request.body, hashlib.sha512).hexdigest()
        assert request.headers["X-Webhook-Hmac"] == expected
        Webhook(SECRET).verify(request.body, dict(request.headers))  # raises if not signed so
        assert request.headers["Authorization"] == TOKEN
        assert request.headers["X-Api-Key"] == "api-key-value"
    expected_basic = "Basic " + base64.b64encode(b"user:pa55word").decode()
    assert all(r.headers["Authorization"] == expected_basic for r in basics)
    stored = service.api.manager.api_sessions["s"].config
    assert stored.proxy is not None and stored.proxy.password == "pp"


async def test_a_mask_with_nothing_stored_behind_it_is_refused(tmp_path):
    async with Receiver() as rx:
        service = build(tmp_path)
        rec = service.recording("r.jsonl", [msg(1)])
        async with serving(service) as api:
            code, error = await api.post("/api/sessions", {"name": "n", "engine": "SCRIPTED", "config": {
                "source": "replay", "replay": rec,
                "webhooks": [{"url": rx.url("/x"), "events": ["message"], "hmac": {"key": "***"}}]}})
            assert (code, error["error"], error["path"]) == (
                422, "masked_secret", "$.config.webhooks[0].hmac.key")
            code, _ = await api.post("/api/sessions", {"name": "n", "engine": "SCRIPTED", "start": False,
                                                       "config": config(rx, rec)})
            assert code == 201
            code, got = await api.get("/api/sessions/n")
            hooks = got["config"]["webhooks"]
            # A new webhook sent with a mask: there is no secret of its own to keep.
            new = {"url": rx.url("/new"), "events": ["message"], "name": "new",
                   "customHeaders": [{"name": "Authorization", "value": "***"}]}
            code, error = await api.put("/api/sessions/n", {"config": {**got["config"],
                                                                      "webhooks": [*hooks, new]}})
            assert (code, error["error"], error["path"]) == (
                422, "masked_secret", "$.config.webhooks[2].customHeaders[0].value")
            # A secret changed on purpose is taken.
            hooks[0]["hmac"] = {"key": "rotated-key"}
            code, _ = await api.put("/api/sessions/n", {"config": {**got["config"], "webhooks": hooks}})
            assert code == 200
            stored = service.api.manager.api_sessions["n"].config.webhooks
            assert stored[0].hmac.key == "rotated-key" and stored[0].secrets == [SECRET]
