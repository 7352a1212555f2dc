"""Config errors of the webhook plugin, through the real CLI: ``python -m core check-config``
in a subprocess, with the WAHA environment variables or a config file."""

from __future__ import annotations

import json
import subprocess

import pytest
from webhook_process import core_command, core_env

from core.events import CATALOGUE

URL = "http://127.0.0.1:9/hook"
GLOBAL = {"WHATSAPP_HOOK_URL": URL, "WHATSAPP_HOOK_EVENTS": "message"}


def check_config(site, tmp_path, toml: str = "", env: dict[str, str] | None = None):
    config = tmp_path / "hookwire.toml"
    config.write_text(toml, encoding="utf-8")
    return subprocess.run(core_command("--config", str(config), "check-config"), env=core_env(site, env),
                          cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False)


def effective(stdout: str) -> dict:
    """The effective config ``check-config`` prints after its first (comment) line."""
    return json.loads(stdout.split("\n", 1)[1])


@pytest.mark.parametrize(("toml", "env", "message"), [
    pytest.param("", {**GLOBAL, "WHATSAPP_HOOK_EVENTS": "message, mesage"},
                 "WHATSAPP_HOOK_EVENTS: unknown event name 'mesage' (valid: *, ", id="unknown-event-env"),
    pytest.param("", {**GLOBAL, "WHATSAPP_HOOK_URL": "ftp://example.com/hook"},
                 "WHATSAPP_HOOK_URL: expected an http(s) URL", id="bad-url-env"),
    pytest.param("", {**GLOBAL, "WHATSAPP_HOOK_RETRIES_POLICY": "fibonacci"},
                 "WHATSAPP_HOOK_RETRIES_POLICY: expected one of constant, linear, exponential, "
                 "found 'fibonacci'", id="bad-policy-env"),
    pytest.param("", {**GLOBAL, "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "many"},
                 "WHATSAPP_HOOK_RETRIES_ATTEMPTS: expected an integer >= 0 and <= 1000, found 'many'", id="bad-attempts-env"),
    pytest.param("", {**GLOBAL, "WHATSAPP_HOOK_CUSTOM_HEADERS": "X-Ok: a:b;NoColonHere"},
                 "WHATSAPP_HOOK_CUSTOM_HEADERS: entry 'NoColonHere' is not `Name:Value`", id="header-without-colon"),
    pytest.param("", {**GLOBAL, "WHATSAPP_HOOK_SECRET": "whsec_not-base64!"},
                 "WHATSAPP_HOOK_SECRET: a Standard Webhooks secret is `whsec_` + base64", id="bad-secret-env"),
    pytest.param(f'[[webhooks]]\nurl = "{URL}"\nevents = ["message"]\nretries = {{ policy = "fibonacci" }}\n',
                 {}, "webhooks[0].retries.policy: invalid enum value 'fibonacci' "
                 "(expected one of 'constant', 'linear', 'exponential')", id="bad-policy-file"),
    pytest.param(f'[[webhooks]]\nurl = "{URL}"\nevents = ["message"]\nretries = {{ schedule = [1, "x"] }}\n',
                 {}, "webhooks[0].retries.schedule[1]: expected a number >= 0 and <= 604800, got `str`",
                 id="bad-schedule-file"),
    pytest.param(f'[[webhooks]]\nurl = "{URL}"\nevents = ["message"]\nretries = {{ delay_seconds = -1 }}\n',
                 {}, "webhooks[0].retries.delay_seconds: expected a number >= 0 and <= 86400 (found -1)",
                 id="negative-delay-file"),
    pytest.param('[[webhooks]]\nurl = "localhost:9/hook"\nevents = ["message"]\n',
                 {}, "webhooks[0]: expected an http(s) URL", id="bad-url-file"),
    pytest.param(f'[[webhooks]]\nurl = "{URL}"\nevents = ["*", "message.sent"]\n',
                 {}, "webhooks[0].events: unknown event name 'message.sent'", id="unknown-event-file"),
    pytest.param(f'[[webhooks]]\nurl = "{URL}"\nevents = ["message"]\nretry = {{}}\n',
                 {}, "webhooks[0].retry: unknown key `retry`", id="unknown-key-file"),
    pytest.param(f'[[webhooks]]\nurl = "{URL}"\nevents = ["message"]\n'
                 f'[[webhooks]]\nurl = "{URL}"\nevents = ["message.any"]\n',
                 {}, "webhooks[1]: two webhooks share the endpoint", id="duplicate-endpoint"),
])
def test_bad_config_exits_2_with_one_line_naming_the_culprit(scripted_site, tmp_path, toml, env, message):
    done = check_config(scripted_site, tmp_path, toml, env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("hookwire: config error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_an_unknown_event_name_lists_every_valid_name(scripted_site, tmp_path):
    done = check_config(scripted_site, tmp_path, env={**GLOBAL, "WHATSAPP_HOOK_EVENTS": "nope"})
    assert done.returncode == 2
    listed = done.stderr.split("(valid: ", 1)[1].rstrip(")\n").split(", ")
    assert listed == ["*", *sorted(CATALOGUE)]


def test_the_global_webhook_from_the_environment_with_colons_in_header_values(scripted_site, tmp_path):
    done = check_config(scripted_site, tmp_path, env={
        **GLOBAL, "WHATSAPP_HOOK_EVENTS": " message ,message.any,  session.status ",
        "WHATSAPP_HOOK_CUSTOM_HEADERS": "X-Target: http://host:8080/path ; X-Pair:a:b",
        "WHATSAPP_HOOK_HMAC_KEY": "hmac-secret", "WHATSAPP_HOOK_RETRIES_POLICY": "Linear",
        "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS": "0.5", "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "3",
        "WHATSAPP_HOOK_TIMEOUT_SECONDS": "7"})
    assert done.returncode == 0, done.stderr
    [hook] = effective(done.stdout)["webhooks"]
    assert hook["url"] == URL and hook["origin"] == "env"
    assert hook["events"] == ["message", "message.any", "session.status"]
    assert hook["headers"] == {"X-Target": "http://host:8080/path", "X-Pair": "a:b"}
    assert hook["hmac_key"] == "***" and "hmac-secret" not in done.stdout
    assert (hook["retries"]["policy"], hook["retries"]["delay_seconds"], hook["retries"]["attempts"]) == (
        "linear", 0.5, 3)
    assert hook["timeout_seconds"] == 7
    assert hook["verify_tls"] is True  # on by default (WAHA turned it off for everyone)


def test_several_secrets_in_the_environment_are_a_rotation(scripted_site, tmp_path):
    first, second = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_YSBzZWNvbmQgc2VjcmV0LCBmb3Igcm90YXRpb24hISE="
    done = check_config(scripted_site, tmp_path, env={**GLOBAL, "WHATSAPP_HOOK_SECRET": f" {first}  {second} "})
    assert done.returncode == 0, done.stderr
    assert effective(done.stdout)["webhooks"][0]["secrets"] == ["***", "***"]
    assert first not in done.stdout and second not in done.stdout
    done = check_config(scripted_site, tmp_path, env={**GLOBAL, "WHATSAPP_HOOK_SECRET": f"{first} whsec_bad!"})
    assert done.returncode == 2 and "WHATSAPP_HOOK_SECRET: a Standard Webhooks secret is" in done.stderr


def test_only_one_of_url_and_events_configures_no_global_webhook(scripted_site, tmp_path):
    done = check_config(scripted_site, tmp_path, env={"WHATSAPP_HOOK_URL": URL})
    assert done.returncode == 0, done.stderr
    assert effective(done.stdout)["webhooks"] == []
    warning = [json.loads(line) for line in done.stderr.splitlines()
               if "global webhook not configured" in line]
    assert warning and warning[0]["missing"] == "WHATSAPP_HOOK_EVENTS" and warning[0]["level"] == "warning"
