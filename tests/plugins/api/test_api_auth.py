"""The API key: required when configured, compared in constant time, never logged; without
one the server only listens on loopback."""

from __future__ import annotations

import json

import aiohttp
import pytest
from api_service import API_KEY, build, serving
from webhook_service import watch_logs

from core.config import ConfigError


async def test_a_configured_key_is_required_everywhere_but_health_and_docs(tmp_path):
    service = build(tmp_path, api={"api_key": API_KEY})
    with watch_logs() as logs:
        async with serving(service) as api:  # the client sends no key
            for method, path in (("GET", "/api/sessions"), ("POST", "/api/sessions"),
                                 ("GET", "/metrics"), ("GET", "/api/deliveries"),
                                 ("DELETE", "/api/sessions/x")):
                code, error = await api.call(method, path)
                assert (code, error["error"]) == (401, "unauthorized"), path
            code, error = await api.get("/api/sessions", headers={"X-Api-Key": API_KEY + "x"})
            assert code == 401
            code, error = await api.get("/api/sessions", headers={"X-Api-Key": API_KEY[:-1]})
            assert code == 401
            code, listed = await api.get("/api/sessions", headers={"X-Api-Key": API_KEY})
            assert (code, listed) == (200, [])
            for path in ("/health", "/openapi.json", "/docs"):
                assert (await api.get(path))[0] == 200, path

            url = f"ws://127.0.0.1:{service.api.port}/ws"
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with api.http.ws_connect(url):
                    pass
            assert refused.value.status == 401
            async with api.http.ws_connect(f"{url}?x-api-key={API_KEY}") as ws:
                assert not ws.closed
            async with api.http.ws_connect(url, headers={"X-Api-Key": API_KEY}) as ws:
                assert not ws.closed
    refusals = logs.find("API request refused: missing or wrong API key")
    assert len(refusals) >= 8 and {"path", "method", "peer"} <= set(refusals[0])
    assert logs.find("API listening", auth="X-Api-Key")
    shown = [json.dumps(entry, default=str) for entry in logs.entries]
    assert not [line for line in shown if API_KEY[:-1] in line]  # no key, not even a wrong one


async def test_the_openapi_document_declares_the_key_when_there_is_one(tmp_path):
    async with serving(build(tmp_path, api={"api_key": API_KEY})) as api:
        code, document = await api.get("/openapi.json")
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert document["paths"]["/api/sessions"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in document["paths"]["/health"]["get"]


async def test_without_a_key_it_listens_on_loopback_and_says_so(tmp_path):
    service = build(tmp_path)
    with watch_logs() as logs:
        async with serving(service) as api:
            assert (await api.get("/api/sessions"))[0] == 200
    [warning] = logs.find("API listening without an API key: loopback only; set api.api_key "
                          "(or WHATSAPP_API_KEY) to listen elsewhere")
    assert warning["loopback"] is True and warning["log_level"] == "warning"


def test_a_non_loopback_host_without_a_key_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"api.host: refusing to listen on '0.0.0.0' without an "
                                          r"API key: set api.api_key \(or WHATSAPP_API_KEY\)"):
        build(tmp_path, api={"host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="api.host: refusing"):
        build(tmp_path, api={"host": "::"})
    service = build(tmp_path, api={"host": "0.0.0.0"}, environ={"WHATSAPP_API_KEY": API_KEY})
    assert service.api.config.api_key == API_KEY
    assert build(tmp_path, api={"host": "::1"}).api.config.host == "::1"


def test_bad_api_settings_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"api.port: expected an integer >= 0 and <= 65535 \(found 70000\)"):
        build(tmp_path, api={"port": 70000})
    with pytest.raises(ConfigError, match=r"api.colour: unknown key"):
        build(tmp_path, api={"colour": "blue"})
    with pytest.raises(ConfigError, match="WHATSAPP_API_PORT: expected an integer >= 0 and <= 65535, found 'x'"):
        build(tmp_path, environ={"WHATSAPP_API_PORT": "x"})
