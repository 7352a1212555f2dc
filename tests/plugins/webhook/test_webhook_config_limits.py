"""Every number of ``[[webhooks]]`` and ``[delivery]`` has a range, from the config file and
from the ``WHATSAPP_HOOK_*`` variables alike: a value outside it (``nan``, ``inf``, ``0`` for
a timeout, absurd sizes) stops start-up with exit status 2 and one line naming the key (or
the variable), the range and the value. Through the real CLI (``core.cli.main``, in-process).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cli import main

URL = "https://example.com/hook"
GLOBAL = {"WHATSAPP_HOOK_URL": URL, "WHATSAPP_HOOK_EVENTS": "message"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("HOOKWIRE_", "WHATSAPP_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def check_config(capsys, tmp_path: Path, toml: str, env: dict[str, str] | None = None,
                 monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    config = tmp_path / "hookwire.toml"
    config.write_text(toml, encoding="utf-8")
    for name, value in (env or {}).items():
        assert monkeypatch is not None
        monkeypatch.setenv(name, value)
    status = main(["--config", str(config), "check-config"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def refused(capsys, tmp_path, toml: str = "", env=None, monkeypatch=None) -> str:
    status, out, err = check_config(capsys, tmp_path, toml, env, monkeypatch)
    assert status == 2, err
    assert out == "" and err.startswith("hookwire: config error: ") and err.count("\n") == 1, err
    return err.removeprefix("hookwire: config error: ").rstrip("\n")


def hook(extra: str) -> str:
    return f'[[webhooks]]\nurl = "{URL}"\nevents = ["message"]\n{extra}\n'


DELAY = "a number >= 0 and <= 86400"
TIMEOUT = "a number > 0 and <= 600"
ATTEMPTS = "an integer >= 0 and <= 1000"


@pytest.mark.parametrize(("toml", "expected"), [
    # the cases of the issue
    (hook("retries = { delay_seconds = nan }"), f"webhooks[0].retries.delay_seconds: expected {DELAY} (found nan)"),
    (hook("timeout_seconds = nan"), f"webhooks[0].timeout_seconds: expected {TIMEOUT} (found nan)"),
    (hook("timeout_seconds = inf"), f"webhooks[0].timeout_seconds: expected {TIMEOUT} (found inf)"),
    (hook("timeout_seconds = 0"), f"webhooks[0].timeout_seconds: expected {TIMEOUT} (found 0)"),
    (hook("concurrency = 100000000"),
     "webhooks[0].concurrency: expected an integer >= 1 and <= 1000 (found 100000000)"),
    (hook("retries = { attempts = 1e12 }"),
     f"webhooks[0].retries.attempts: expected {ATTEMPTS}, got `float` (found 1000000000000.0)"),
    (hook("retries = { attempts = 1000000000000 }"),
     f"webhooks[0].retries.attempts: expected {ATTEMPTS} (found 1000000000000)"),
    ("[delivery]\nbatch_size = 0", "delivery.batch_size: expected an integer >= 1 and <= 10000 (found 0)"),
    ("[delivery]\nretention_hours = -1",
     "delivery.retention_hours: expected a number >= 0 and <= 87600 (found -1)"),
    # and the other numbers
    (hook("retries = { max_delay_seconds = inf }"),
     "webhooks[0].retries.max_delay_seconds: expected a number >= 0 and <= 604800 (found inf)"),
    (hook("retries = { schedule = [1, nan] }"),
     "webhooks[0].retries.schedule[1]: expected a number >= 0 and <= 604800 (found nan)"),
    (hook("retries = { jitter = 1 }"), "webhooks[0].retries.jitter: expected a number >= 0 and < 1 (found 1)"),
    (hook("circuit_breaker = { probe_seconds = 0 }"),
     "webhooks[0].circuit_breaker.probe_seconds: expected a number > 0 and <= 86400 (found 0)"),
    (hook("circuit_breaker = { failures = -1 }"),
     "webhooks[0].circuit_breaker.failures: expected an integer >= 0 and <= 10000 (found -1)"),
    (hook("non_retryable_statuses = [400, 600]"),
     "webhooks[0].non_retryable_statuses[1]: expected an integer >= 100 and <= 599 (found 600)"),
    ("[delivery]\nredis_reclaim_seconds = 0",
     "delivery.redis_reclaim_seconds: expected a number >= 1 and <= 3600 (found 0)"),
    ("[delivery]\nredis_buffer_events = 1000000000",
     "delivery.redis_buffer_events: expected an integer >= 0 and <= 1000000 (found 1000000000)"),
])
def test_a_number_out_of_range_in_the_file_exits_2_naming_key_range_and_value(capsys, tmp_path, toml, expected):
    assert refused(capsys, tmp_path, toml) == f"{tmp_path / 'hookwire.toml'}: {expected}"


def test_a_schedule_is_bounded_in_length(capsys, tmp_path):
    schedule = ", ".join(["1"] * 1001)
    message = refused(capsys, tmp_path, hook(f"retries = {{ schedule = [{schedule}] }}"))
    assert "webhooks[0].retries.schedule: expected `array` of length <= 1000" in message


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "nan", DELAY),
    ("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "inf", DELAY),
    ("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "-1", DELAY),
    ("WHATSAPP_HOOK_TIMEOUT_SECONDS", "nan", TIMEOUT),
    ("WHATSAPP_HOOK_TIMEOUT_SECONDS", "inf", TIMEOUT),
    ("WHATSAPP_HOOK_TIMEOUT_SECONDS", "0", TIMEOUT),  # was silently 15
    ("WHATSAPP_HOOK_TIMEOUT_SECONDS", "601", TIMEOUT),
    ("WHATSAPP_HOOK_RETRIES_ATTEMPTS", "1e12", ATTEMPTS),
    ("WHATSAPP_HOOK_RETRIES_ATTEMPTS", "1000000000000", ATTEMPTS),
    ("WHATSAPP_API_PORT", "70000", "an integer >= 0 and <= 65535"),
])
def test_a_number_out_of_range_in_the_environment_names_the_variable(capsys, tmp_path, monkeypatch,
                                                                     variable, value, expected):
    message = refused(capsys, tmp_path, env={**GLOBAL, variable: value}, monkeypatch=monkeypatch)
    assert message == f"{variable}: expected {expected}, found {value!r}"


def test_numbers_at_the_ends_of_their_ranges_are_taken(capsys, tmp_path, monkeypatch):
    status, out, err = check_config(
        capsys, tmp_path, hook('name = "file"\nconcurrency = 1000\nretries = { attempts = 1000, jitter = 0.99 }\n'
                               "[delivery]\nbatch_size = 10000\nretention_hours = 0"),
        env={**GLOBAL, "WHATSAPP_HOOK_TIMEOUT_SECONDS": "600", "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS": "0"},
        monkeypatch=monkeypatch)
    assert status == 0, err
    effective = json.loads(out.split("\n", 1)[1])
    first, from_env = effective["webhooks"]
    assert (first["concurrency"], first["retries"]["attempts"]) == (1000, 1000)
    assert (from_env["timeout_seconds"], from_env["retries"]["delay_seconds"]) == (600, 0)
    assert (effective["delivery"]["batch_size"], effective["delivery"]["retention_hours"]) == (10000, 0)


def test_url_credentials_never_appear_in_an_error_or_in_check_config(capsys, tmp_path, monkeypatch):
    secret_url = "http://user:pa55word@example.com/hook"
    # a struct-level error prints the whole table: the URL in it is masked
    message = refused(capsys, tmp_path, f'[[webhooks]]\nurl = "{secret_url}"\nevents = []\n')
    assert "pa55word" not in message and "http://user:***@example.com/hook" in message, message
    message = refused(capsys, tmp_path, '[delivery]\nredis_url = "http://:pa55word@redis:6379/0"\n')
    assert "pa55word" not in message, message
    status, out, err = check_config(
        capsys, tmp_path, f'[[webhooks]]\nurl = "{secret_url}"\nevents = ["message"]\n'
                          '[delivery]\nbackend = "redis"\nredis_url = "redis://:pa55word@redis:6379/0"\n')
    assert status == 0, err
    assert "pa55word" not in out + err
    effective = json.loads(out.split("\n", 1)[1])
    assert effective["webhooks"][0]["url"] == "http://user:***@example.com/hook"
    assert effective["delivery"]["redis_url"] == "redis://:***@redis:6379/0"
    message = refused(capsys, tmp_path, env={"WHATSAPP_HOOK_URL": "ftp://user:pa55word@example.com/",
                                             "WHATSAPP_HOOK_EVENTS": "message"}, monkeypatch=monkeypatch)
    assert message.startswith("WHATSAPP_HOOK_URL: ") and "pa55word" not in message, message
