"""Webhook URLs set over the API are untrusted: a private, loopback or otherwise refused
address in any spelling is a 422 naming the field, before anything is stored or started;
``[delivery] allow_networks`` opens exceptions."""

from __future__ import annotations

import pytest
from api_service import build, serving

REFUSED = [
    ("decimal", "http://2130706433/hook"),
    ("octal", "http://0177.0.0.1/hook"),
    ("hex", "http://0x7f.0.0.1/hook"),
    ("short", "http://127.1/hook"),
    ("ipv6-mapped", "http://[::ffff:127.0.0.1]/hook"),
    ("ipv6-loopback", "http://[::1]/hook"),
    ("private", "http://10.1.2.3/hook"),
    ("link-local", "http://169.254.169.254/latest/meta-data"),
    ("cgnat", "http://100.64.0.1/hook"),
    ("name", "http://localhost/hook"),
]


@pytest.mark.parametrize(("kind", "url"), REFUSED, ids=[k for k, _ in REFUSED])
async def test_refused_webhook_targets_are_422_and_nothing_is_created(tmp_path, kind, url):
    service = build(tmp_path, delivery={"allow_networks": []})
    async with serving(service) as api:
        code, error = await api.post("/api/sessions", {
            "name": "s", "engine": "SCRIPTED", "start": False,
            "config": {"webhooks": [{"url": "https://example.com/fine", "events": ["message"]},
                                    {"url": url, "events": ["message"]}]}})
        assert (code, error["error"], error["path"]) == (422, "invalid_webhook", "$.config.webhooks[1].url")
        assert error["detail"].startswith("refused: "), error
        code, listed = await api.get("/api/sessions?all=true")
        assert listed == []


async def test_allow_networks_open_an_exception(tmp_path):
    service = build(tmp_path, delivery={"allow_networks": ["10.0.0.0/8"]})
    async with serving(service) as api:
        code, info = await api.post("/api/sessions", {
            "name": "s", "engine": "SCRIPTED", "start": False,
            "config": {"webhooks": [{"url": "http://10.1.2.3/hook", "events": ["message"]}]}})
        assert code == 201, info
        code, error = await api.put("/api/sessions/s", {"config": {"webhooks": [
            {"url": "http://192.168.1.1/hook", "events": ["message"]}]}})
        assert (code, error["path"]) == (422, "$.config.webhooks[0].url")
        code, info = await api.get("/api/sessions/s")
        assert [h["url"] for h in info["config"]["webhooks"]] == ["http://10.1.2.3/hook"]  # unchanged
