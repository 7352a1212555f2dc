"""Webhook targets and headers are validated where they enter: the config file, the
``WHATSAPP_HOOK_*`` variables (and the API, ``tests/plugins/api/test_api_targets.py``). A URL
with whitespace or a control character, longer than 2,048 characters, with a percent-encoded
host or a host ending in a dot is refused; so is a custom header that would collide with the
contract's own headers, a header value with CR, LF or NUL, and an empty HMAC key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cli import main
from plugins.webhook.ssrf import MAX_URL_LENGTH, check_url_allowed, parse_target

CONFIG = "hookwire.toml"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("HOOKWIRE_", "WHATSAPP_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def refused(capsys, tmp_path: Path, toml: str = "") -> str:
    """The one line ``check-config`` prints for a refused config (exit status 2)."""
    (tmp_path / CONFIG).write_text(toml, encoding="utf-8")
    status = main(["--config", str(tmp_path / CONFIG), "check-config"])
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("hookwire: config error: ")
    return captured.err.removeprefix("hookwire: config error: ").rstrip("\n")


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (control characters escaped, so the file is valid)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


LONG = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/") + 1)

BAD_URLS = [
    ("space-in-path", "https://example.com/a hook", "contains a space at position 21"),
    ("space-in-host", "https://exa mple.com/", "contains a space at position 11"),
    ("leading-space", " https://example.com/", "expected an http(s) URL"),
    ("trailing-space", "https://example.com/ ", "contains a space at position 20"),
    ("nul", "https://example.com/\x00", "contains a NUL character at position 20"),
    ("tab", "https://exam\tple.com/", "contains the character U+0009"),  # yarl drops tabs silently
    ("newline", "https://example.com/\nX-Injected: 1", "contains the character U+000A"),
    ("cr", "https://example.com/\r", "contains the character U+000D"),
    ("del", "https://example.com/\x7f", "contains the character U+007F"),
    ("nbsp", "https://example.com/a\u00a0b", "contains the character U+00A0"),
    ("zero-width-space", "https://\u200bexample.com/", "contains the character U+200B"),
    ("too-long", LONG, f"is {MAX_URL_LENGTH + 1} characters long, more than {MAX_URL_LENGTH}"),
    ("percent-host", "https://ex%61mple.com/", "the host 'ex%61mple.com' is percent-encoded"),
    ("percent-ip", "http://%31%32%37.0.0.1/", "is percent-encoded"),
    ("trailing-dot", "https://example.com./hook", "the host 'example.com.' ends with a dot"),
    ("trailing-dot-ip", "http://8.8.8.8./", "the host '8.8.8.8.' ends with a dot"),
    ("empty-label", "https://example..com/", "is not a valid host name"),
    ("ipv6-zone", "http://[2001:4860::1%25eth0]/", "has a zone"),
    ("port-0", "https://example.com:0/", "port 0 cannot be connected to"),
    ("ftp", "ftp://example.com/", "expected an http(s) URL"),
    ("no-host", "http:///hook", "expected an http(s) URL"),
]


@pytest.mark.parametrize(("url", "reason"), [(u, r) for _, u, r in BAD_URLS], ids=[i for i, _, _ in BAD_URLS])
def test_a_bad_url_is_refused_with_the_reason(url, reason):
    with pytest.raises(ValueError) as caught:
        parse_target(url)
    assert reason in str(caught.value)
    with pytest.raises(ValueError):  # the API's check refuses it too
        check_url_allowed(url, ["0.0.0.0/0", "::/0"])


@pytest.mark.parametrize("url", [
    "https://example.com/hook?a=1&b=%20#frag",
    "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/")),  # exactly 2048
    "http://user:pa55@example.com:8080/x",
    "https://例え.jp/hook",  # IDNA
    "https://a_b.internal/hook",
    "http://[2606:4700:4700::1111]/",
    "HTTPS://EXAMPLE.COM/Hook",
])
def test_good_urls_pass(url):
    assert parse_target(url).raw_host


def test_the_checked_host_is_the_normalised_one():
    # fullwidth digits and ideographic dots are 127.0.0.1 after IDNA: refused as loopback
    for url in ("http://１２７.０.０.１/", "http://127。0。0。1/", "http://ｌｏｃａｌｈｏｓｔ/"):
        with pytest.raises(ValueError, match="^refused: "):
            check_url_allowed(url)
    # a loopback address in disguise is named as what it is, and what allows it
    for url, shown in (("http://127.0.0.1./", "127.0.0.1"), ("http://%31%32%37.0.0.1/", "127.0.0.1"),
                       ("http://localhost./", "localhost.")):
        with pytest.raises(ValueError) as caught:
            check_url_allowed(url)
        assert str(caught.value).startswith(f"refused: {shown} is a loopback"), caught.value
        assert "[delivery] allow_networks" in str(caught.value)
    # allowed loopback: the form is still refused
    with pytest.raises(ValueError, match="ends with a dot"):
        check_url_allowed("http://127.0.0.1./", ["127.0.0.0/8"])


@pytest.mark.parametrize(("url", "reason"), [(u, r) for _, u, r in BAD_URLS], ids=[i for i, _, _ in BAD_URLS])
def test_a_bad_url_in_the_config_file_exits_2(capsys, tmp_path, url, reason):
    message = refused(capsys, tmp_path, f'[[webhooks]]\nurl = {toml_string(url)}\nevents = ["message"]\n')
    assert message.startswith(f"{tmp_path / CONFIG}: webhooks[0]: "), message
    assert reason in message


#: The variable is trimmed (like WAHA's) and cannot hold a NUL: the file cases cover those.
ENV_URLS = [(i, u, r) for i, u, r in BAD_URLS if i not in ("leading-space", "trailing-space", "cr", "nul")]


@pytest.mark.parametrize(("url", "reason"), [(u, r) for _, u, r in ENV_URLS], ids=[i for i, _, _ in ENV_URLS])
def test_a_bad_url_in_the_environment_exits_2_naming_the_variable(capsys, tmp_path, monkeypatch, url, reason):
    monkeypatch.setenv("WHATSAPP_HOOK_URL", url)
    monkeypatch.setenv("WHATSAPP_HOOK_EVENTS", "message")
    message = refused(capsys, tmp_path)
    assert message.startswith("WHATSAPP_HOOK_URL: ") and reason in message, message


RESERVED = ["X-Webhook-Request-Id", "x-webhook-hmac", "X-Webhook-Anything", "webhook-id",
            "Webhook-Signature", "webhook-future", "Content-Type", "content-length", "Host",
            "User-Agent", "Transfer-Encoding"]


@pytest.mark.parametrize("name", RESERVED)
def test_a_header_that_collides_with_the_contract_is_refused_not_dropped(capsys, tmp_path, monkeypatch, name):
    message = refused(capsys, tmp_path, f'[[webhooks]]\nurl = "https://example.com/"\nevents = ["message"]\n'
                                        f'headers = {{ "{name}" = "forged" }}\n')
    assert f"webhooks[0]: header {name!r} is set by hookwire itself" in message, message
    monkeypatch.setenv("WHATSAPP_HOOK_URL", "https://example.com/")
    monkeypatch.setenv("WHATSAPP_HOOK_EVENTS", "message")
    monkeypatch.setenv("WHATSAPP_HOOK_CUSTOM_HEADERS", f"X-Fine: 1; {name}: forged")
    message = refused(capsys, tmp_path)
    assert message.startswith(f"WHATSAPP_HOOK_CUSTOM_HEADERS: header {name!r} is set by hookwire itself"), message


@pytest.mark.parametrize(("value", "what"), [("a\r\nX-Injected: 1", "CR at position 1"),
                                             ("a\nb", "LF at position 1"), ("a\x00", "NUL at position 1"),
                                             ("a\x1bb", "control character U+001B")])
def test_a_header_value_with_cr_lf_or_nul_is_refused(capsys, tmp_path, monkeypatch, value, what):
    message = refused(capsys, tmp_path, f'[[webhooks]]\nurl = "https://example.com/"\nevents = ["message"]\n'
                                        f'headers = {{ "X-Tenant" = {toml_string(value)} }}\n')
    assert f"webhooks[0]: header 'X-Tenant': the value holds a {what}" in message, message
    if "\x00" not in value:
        monkeypatch.setenv("WHATSAPP_HOOK_URL", "https://example.com/")
        monkeypatch.setenv("WHATSAPP_HOOK_EVENTS", "message")
        monkeypatch.setenv("WHATSAPP_HOOK_CUSTOM_HEADERS", f"X-Tenant: {value}x")
        message = refused(capsys, tmp_path)
        assert message.startswith("WHATSAPP_HOOK_CUSTOM_HEADERS: header 'X-Tenant': the value holds a"), message


def test_header_names_differing_only_in_case_are_refused(capsys, tmp_path, monkeypatch):
    message = refused(capsys, tmp_path, '[[webhooks]]\nurl = "https://example.com/"\nevents = ["message"]\n'
                                        'headers = { "X-Tenant" = "a", "x-tenant" = "b" }\n')
    assert "headers 'X-Tenant' and 'x-tenant' are one header" in message, message
    monkeypatch.setenv("WHATSAPP_HOOK_URL", "https://example.com/")
    monkeypatch.setenv("WHATSAPP_HOOK_EVENTS", "message")
    monkeypatch.setenv("WHATSAPP_HOOK_CUSTOM_HEADERS", "X-Tenant: a; x-tenant: b")
    assert "header 'x-tenant' is given twice" in refused(capsys, tmp_path)


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_hmac_key_is_refused(capsys, tmp_path, key):
    message = refused(capsys, tmp_path, f'[[webhooks]]\nurl = "https://example.com/"\nevents = ["message"]\n'
                                        f'hmac_key = "{key}"\n')
    assert "webhooks[0]: hmac_key is empty" in message, message


def test_a_blank_hmac_key_variable_is_refused_and_an_empty_one_is_unset(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WHATSAPP_HOOK_URL", "https://example.com/")
    monkeypatch.setenv("WHATSAPP_HOOK_EVENTS", "message")
    monkeypatch.setenv("WHATSAPP_HOOK_HMAC_KEY", "   ")
    assert refused(capsys, tmp_path).startswith("WHATSAPP_HOOK_HMAC_KEY: hmac_key is empty")
    monkeypatch.setenv("WHATSAPP_HOOK_HMAC_KEY", "")  # like every variable: empty = not set
    (tmp_path / CONFIG).write_text("", encoding="utf-8")
    assert main(["--config", str(tmp_path / CONFIG), "check-config"]) == 0
    assert '"hmac_key": null' in capsys.readouterr().out
