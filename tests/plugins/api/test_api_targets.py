"""Webhooks set over the API follow the same rules as the config file's: a bad URL, a header
colliding with the contract's own, a header value with CR/LF/NUL or an empty HMAC key is a 422
naming the field, and nothing is stored. A loopback or private target's 422 names the setting
that would allow it (``[delivery] allow_networks``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from api_service import build, serving

from plugins.webhook.ssrf import MAX_URL_LENGTH

FINE = {"url": "https://example.com/fine", "events": ["message"]}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ``HOOKWIRE_*`` / ``WHATSAPP_*`` variable of the caller reaches the service."""
    for name in list(os.environ):
        if name.startswith(("HOOKWIRE_", "WHATSAPP_")):
            monkeypatch.delenv(name)
    yield


async def refused(tmp_path, webhook: dict, **build_options) -> dict:
    """POST a session whose second webhook is ``webhook``: the 422, and nothing created."""
    service = build(tmp_path, **build_options)
    async with serving(service) as api:
        code, error = await api.post("/api/sessions", {
            "name": "s", "engine": "SCRIPTED", "start": False,
            "config": {"webhooks": [FINE, webhook]}})
        assert code == 422, error
        assert error["error"] == "invalid_webhook"
        assert (await api.get("/api/sessions?all=true"))[1] == []
    return error


@pytest.mark.parametrize(("url", "reason"), [
    ("https://example.com/a hook", "contains a space"),
    ("https://example.com/\x00", "contains a NUL character"),
    ("https://example.com/\r\nX-Injected: 1", "contains the character U+000D"),
    ("https://example.com/" + "a" * MAX_URL_LENGTH, f"more than {MAX_URL_LENGTH}"),
    ("https://ex%61mple.com/", "is percent-encoded"),
    ("https://example.com./hook", "ends with a dot"),
])
async def test_a_bad_url_is_422_at_the_url(tmp_path, url, reason):
    error = await refused(tmp_path, {"url": url, "events": ["message"]})
    assert error["path"] == "$.config.webhooks[1].url"
    assert reason in error["detail"], error


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook",
                                 "http://127.0.0.1./hook", "http://%31%32%37.0.0.1/hook"])
async def test_a_refused_target_names_the_setting_that_allows_it(tmp_path, url):
    error = await refused(tmp_path, {"url": url, "events": ["message"]}, delivery={"allow_networks": []})
    assert error["path"] == "$.config.webhooks[1].url"
    assert error["detail"].startswith("refused: "), error
    assert "[delivery] allow_networks" in error["detail"], error


@pytest.mark.parametrize("name", ["X-Webhook-Request-Id", "webhook-signature", "Content-Type", "Host",
                                  "User-Agent", "content-length", "X-Webhook-Whatever"])
async def test_a_header_colliding_with_the_contract_is_422_at_the_header(tmp_path, name):
    error = await refused(tmp_path, {**FINE, "url": "https://example.com/other",
                                     "customHeaders": [{"name": "X-Ok", "value": "1"},
                                                       {"name": name, "value": "forged"}]})
    assert error["path"] == "$.config.webhooks[1].customHeaders[1]"
    assert f"header {name!r} is set by hookwire itself" in error["detail"], error


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\x00b"])
async def test_a_header_value_with_cr_lf_or_nul_is_422(tmp_path, value):
    error = await refused(tmp_path, {**FINE, "url": "https://example.com/other",
                                     "customHeaders": [{"name": "X-Tenant", "value": value}]})
    assert error["path"] == "$.config.webhooks[1].customHeaders[0]"
    assert "header 'X-Tenant': the value holds a" in error["detail"], error


@pytest.mark.parametrize("key", ["", "  "])
async def test_an_empty_hmac_key_is_422(tmp_path, key):
    error = await refused(tmp_path, {**FINE, "url": "https://example.com/other", "hmac": {"key": key}})
    assert error["path"] == "$.config.webhooks[1].hmac.key"
    assert "hmac_key is empty" in error["detail"]


async def test_no_hmac_and_a_null_key_stay_accepted(tmp_path):
    service = build(tmp_path)
    async with serving(service) as api:
        code, info = await api.post("/api/sessions", {
            "name": "s", "engine": "SCRIPTED", "start": False,
            "config": {"webhooks": [FINE, {"url": "https://example.com/b", "events": ["message"],
                                           "hmac": {"key": None}}]}})
        assert code == 201, info
