"""The API key: required when configured, compared in constant time, never logged; without
one the server only listens on loopback."""

from __future__ import annotations

import base64
import hashlib
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
            for path in ("/health", "/openapi.json", "/docs", "/", "/docs/static/swagger-ui-bundle.js",
                         "/dashboard", "/dashboard/static/dashboard.js"):
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
            # Browsers: a one-time ticket, asked for with the key.
            code, error = await api.post("/api/ws/ticket")
            assert code == 401
            code, ticket = await api.post("/api/ws/ticket", headers={"X-Api-Key": API_KEY})
            assert code == 201 and ticket["expires_in_seconds"] == 30
            async with api.http.ws_connect(f"{url}?ticket={ticket['ticket']}") as ws:
                assert not ws.closed
            for used_or_made_up in (ticket["ticket"], "made-up"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    async with api.http.ws_connect(f"{url}?ticket={used_or_made_up}"):
                        pass
                assert refused.value.status == 401
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
    [warning] = logs.find("API listening without an API key: loopback only; set "
                          "WHATSAPP_API_KEY (or api.api_key) to require X-Api-Key and listen on "
                          "every interface")
    assert warning["loopback"] is True and warning["log_level"] == "warning"


def test_a_non_loopback_host_without_a_key_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"api.host: refusing to listen on '0.0.0.0' without an "
                                          r"API key: set WHATSAPP_API_KEY \(or WAHA_API_KEY, or "
                                          r"api.api_key\), or listen on 127.0.0.1"):
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
    with pytest.raises(ConfigError, match="PORT: expected an integer >= 0 and <= 65535, found '99999'"):
        build(tmp_path, environ={"PORT": "99999"})
    with pytest.raises(ConfigError, match="WHATSAPP_API_KEY and WAHA_API_KEY are both set, to "
                                          "different keys: set one"):
        build(tmp_path, environ={"WHATSAPP_API_KEY": "a" * 20, "WAHA_API_KEY": "b" * 20})
    with pytest.raises(ConfigError, match=r"api_key: `sha512:` must be followed by 128 hex digits"):
        build(tmp_path, environ={"WHATSAPP_API_KEY": "sha512:abc"})
    with pytest.raises(ConfigError, match="WAHA_AUTO_START_DELAY_SECONDS: expected a number >= 0 and "
                                          "<= 3600, found 'nan'"):
        build(tmp_path, environ={"WAHA_AUTO_START_DELAY_SECONDS": "nan"})
    with pytest.raises(ConfigError, match="WHATSAPP_RESTART_ALL_SESSIONS: expected true or "
                                          "false, found 'maybe'"):
        build(tmp_path, environ={"WHATSAPP_RESTART_ALL_SESSIONS": "maybe"})
    with pytest.raises(ConfigError, match=r"start_sessions: 'a b' is not a session name"):
        build(tmp_path, environ={"WHATSAPP_START_SESSION": "ok,a b"})
    with pytest.raises(ConfigError, match=r"api.stuck_after_seconds: expected a number > 0"):
        build(tmp_path, api={"stuck_after_seconds": 0})


def test_waha_variables_set_the_api(tmp_path):
    environ = {"WAHA_API_KEY": API_KEY, "PORT": "0", "WHATSAPP_API_PORT": "3001",
               "WHATSAPP_DEFAULT_ENGINE": "noweb", "WHATSAPP_START_SESSION": "a, b",
               "WHATSAPP_RESTART_ALL_SESSIONS": "True", "WAHA_WORKER_RESTART_SESSIONS": "false",
               "WAHA_AUTO_START_DELAY_SECONDS": "0.5", "WHATSAPP_API_KEY_EXCLUDE_PATH": "/ping,/metrics",
               "WHATSAPP_API_SCHEMA": "HTTPS", "WHATSAPP_PROXY_SERVER": "proxy.example:3128"}
    config = build(tmp_path, api={"host": "127.0.0.1"}, environ=environ).api.config
    assert (config.api_key, config.port, config.default_engine) == (API_KEY, 0, "NOWEB")
    assert config.start_sessions == ["a", "b"] and config.restart_all_sessions
    assert not config.worker_restart_sessions and config.auto_start_delay_seconds == 0.5
    assert config.api_key_exclude_paths == ["/ping", "/metrics"]
    assert config.url(3000) == "https://127.0.0.1:3000" and config.proxy_server == "proxy.example:3128"
    assert build(tmp_path, environ={"WAHA_BASE_URL": "https://w.example/"}).api.config.url() == \
        "https://w.example"
    # With a key and no host, it listens everywhere (as WAHA does); without one, on loopback.
    assert build(tmp_path, environ={"WHATSAPP_API_KEY": API_KEY}).api.config.listen_host == "0.0.0.0"
    assert build(tmp_path).api.config.listen_host == "127.0.0.1"


async def test_a_sha512_key_and_excluded_paths(tmp_path):
    digest = hashlib.sha512(API_KEY.encode()).hexdigest()
    service = build(tmp_path, api={"api_key": f"sha512:{digest.upper()}",
                                   "api_key_exclude_paths": ["/metrics"]})
    async with serving(service) as api:
        assert (await api.get("/api/sessions"))[0] == 401
        assert (await api.get("/api/sessions", headers={"X-Api-Key": digest}))[0] == 401
        assert (await api.get("/api/sessions", headers={"X-Api-Key": API_KEY}))[0] == 200
        assert (await api.get("/metrics"))[0] == 200
        assert (await api.get("/ping")) == (200, {"message": "pong"})


async def test_the_docs_can_be_switched_off_or_put_behind_a_password(tmp_path):
    async with serving(build(tmp_path, api={"swagger_enabled": False})) as api:
        for path in ("/docs", "/openapi.json", "/", "/docs/static/swagger-ui.css"):
            code, error = await api.get(path)
            assert (code, error["error"]) == (404, "not_found"), path
    service = build(tmp_path, environ={"WHATSAPP_SWAGGER_USERNAME": "admin",
                                       "WHATSAPP_SWAGGER_PASSWORD": "s3cret"})
    async with serving(service) as api:
        async with api.http.get(api.base + "/docs") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="hookwire docs"'
        wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}
        async with api.http.get(api.base + "/docs", headers=wrong) as response:
            assert response.status == 401
        async with api.http.get(api.base + "/docs/static/swagger-ui-bundle.js") as response:
            assert response.status == 401
        right = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}
        async with api.http.get(api.base + "/openapi.json", headers=right) as response:
            assert response.status == 200 and (await response.json())["openapi"].startswith("3.1")
        assert (await api.get("/api/sessions"))[0] == 200  # the API itself: unaffected
    with pytest.raises(ConfigError, match="swagger_username and swagger_password go together"):
        build(tmp_path, environ={"WHATSAPP_SWAGGER_USERNAME": "admin"})
