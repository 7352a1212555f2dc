"""SSRF protection of webhooks set over the API (``origin = "api"``): every private spelling of
an address is refused at attempt time with the reason recorded and no retry, the checked
address is the connected one (pinned), ``[delivery] allow_networks`` opens exceptions, and
webhooks of the config file stay trusted.

Every refused URL below points at a live loopback receiver, so a guard that let one through
would show up as a request the receiver got. No test touches a non-loopback address: the
non-loopback forms are checked without a connection (``check_url_allowed``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from webhook_receiver import Receiver
from webhook_service import attempts_by_url, build_service, message

from core.config import ConfigError
from plugins.webhook.config import RetryConfig, WebhookConfig
from plugins.webhook.http import post
from plugins.webhook.ssrf import (
    check_url_allowed,
    check_url_resolves_allowed,
    untrusted_client_session,
)
from plugins.webhook.store import ClaimedDelivery

LOOPBACK = "a loopback address"


@pytest.mark.parametrize(("url", "reason"), [
    ("http://2130706433/", "refused: 2130706433 resolves to 127.0.0.1, " + LOOPBACK),
    ("http://0177.0.0.1/", "refused: 0177.0.0.1 resolves to 127.0.0.1, " + LOOPBACK),
    ("http://0x7f.0.0.1/", "refused: 0x7f.0.0.1 resolves to 127.0.0.1, " + LOOPBACK),
    ("http://0x7f000001/", "refused: 0x7f000001 resolves to 127.0.0.1, " + LOOPBACK),
    ("http://017700000001/", "refused: 017700000001 resolves to 127.0.0.1, " + LOOPBACK),
    ("http://127.1:8080/", "refused: 127.1 resolves to 127.0.0.1, " + LOOPBACK),
    ("http://127.0.0.1/", "refused: 127.0.0.1 is " + LOOPBACK),
    ("http://[::1]/", "refused: ::1 is " + LOOPBACK),
    ("http://localhost:3000/", "refused: localhost is a loopback name"),
    ("http://LOCALHOST./", "refused: localhost. is a loopback name"),
    ("http://api.localhost/", "refused: api.localhost is a loopback name"),
    ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped loopback address (of 127.0.0.1)"),
    ("http://[::ffff:10.1.2.3]/", "an IPv4-mapped private address (of 10.1.2.3)"),
    ("http://[::ffff:169.254.169.254]/", "an IPv4-mapped link-local address"),
    ("http://[64:ff9b::7f00:1]/", "a NAT64 loopback address (of 127.0.0.1)"),
    ("http://[64:ff9b::c0a8:101]/", "a NAT64 private address (of 192.168.1.1)"),
    ("http://[64:ff9b:1::a00:1]/", "private (local-use NAT64)"),
    ("http://[::7f00:1]/", "an IPv4-compatible loopback address"),
    ("http://[::8.8.8.8]/", "reserved (IPv4-compatible)"),
    ("http://[2002:a00:1::1]/", "a 6to4 private address (of 10.0.0.1)"),
    ("http://10.0.0.5/", "refused: 10.0.0.5 is a private address"),
    ("http://172.16.9.9/", "a private address"),
    ("http://192.168.1.1/", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("http://100.64.0.1/", "a shared (CGNAT) address"),
    ("http://100.127.255.254/", "a shared (CGNAT) address"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://240.0.0.1/", "a reserved address"),
    ("http://255.255.255.255/", "a reserved address"),
    ("http://0.0.0.0/", "an unspecified address"),
    ("http://0/", "refused: 0 resolves to 0.0.0.0, an unspecified address"),
    ("http://0.1.2.3/", "reserved ('this network')"),
    ("http://198.18.0.1/", "reserved (benchmarking)"),
    ("http://192.0.2.1/", "reserved (documentation)"),
    ("http://[::]/", "an unspecified address"),
    ("http://[fd12:3456::1]/", "a unique local (ULA) address"),
    ("http://[fc00::1]/", "a unique local (ULA) address"),
    ("http://[fe80::1%25eth0]/", "a link-local address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[fec0::1]/", "a site-local address"),
    ("http://[ff02::1]/", "a multicast address"),
    ("http://[2001:db8::1]/", "reserved (documentation)"),
    ("http://[100::1]/", "reserved (discard-only)"),
    ("http://[4000::1]/", "reserved (not global unicast)"),
])
def test_every_private_spelling_is_refused_before_any_connection(url, reason):
    with pytest.raises(ValueError) as caught:
        check_url_allowed(url)
    assert reason in str(caught.value)
    assert str(caught.value).startswith("refused: ")


@pytest.mark.parametrize("url", [
    "https://example.com/hook",  # names are resolved (and checked) at attempt time
    "http://93.184.216.34/hook",
    "http://8.8.8.8:8080/",
    "http://[2606:4700:4700::1111]/",
    "http://[::ffff:8.8.8.8]/",  # mapped forms of public addresses are public
    "http://[64:ff9b::808:808]/",
    "http://[2002:808:808::1]/",
    "http://100.128.0.1/",  # just past CGNAT
    "http://172.32.0.1/",  # just past 172.16/12
])
def test_public_addresses_and_names_pass_the_early_check(url):
    check_url_allowed(url)


def test_allow_networks_open_exceptions_including_embedded_forms():
    allow = ["127.0.0.0/8", "fd00::/8"]
    for url in ("http://127.0.0.1/", "http://2130706433/", "http://0177.0.0.2/",
                "http://localhost/", "http://[::ffff:127.0.0.1]/", "http://[64:ff9b::7f00:1]/",
                "http://[fd12::1]/"):
        check_url_allowed(url, allow)
    for url in ("http://[::1]/", "http://10.0.0.1/", "http://[fc00::1]/"):
        with pytest.raises(ValueError, match="^refused: "):
            check_url_allowed(url, allow)


def test_the_early_check_names_bad_urls_and_bad_networks():
    with pytest.raises(ValueError, match="expected an http"):
        check_url_allowed("ftp://example.com/")
    with pytest.raises(ValueError, match="expected an http"):
        check_url_allowed("not a url")
    with pytest.raises(ValueError, match=r"allow_networks: '10\.0\.0\.1/8' is not a network"):
        check_url_allowed("http://10.0.0.1/", ["10.0.0.1/8"])


async def test_the_resolving_check_refuses_a_name_that_resolves_to_loopback():
    with pytest.raises(ValueError, match="^refused: localhost is a loopback name"):
        await check_url_resolves_allowed("http://localhost/")
    await check_url_resolves_allowed("http://localhost:9/", ["127.0.0.0/8"])


def test_a_bad_allowlist_is_a_config_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"delivery.*allow_networks: '300\.0\.0\.0/8' is not a network"):
        build_service(tmp_path, webhooks=[], delivery={"allow_networks": ["300.0.0.0/8"]})


# -- at attempt time, through the running service ----------------------------------------------

#: URLs of refused forms, each pointing at the test's loopback receiver on ``{port}``.
REFUSED_AT_ATTEMPT = {
    "decimal": ("http://2130706433:{port}/decimal", "refused: 2130706433 resolves to 127.0.0.1, " + LOOPBACK),
    "octal": ("http://0177.0.0.1:{port}/octal", "refused: 0177.0.0.1 resolves to 127.0.0.1, " + LOOPBACK),
    "hex": ("http://0x7f.0.0.1:{port}/hex", "refused: 0x7f.0.0.1 resolves to 127.0.0.1, " + LOOPBACK),
    "short": ("http://127.1:{port}/short", "refused: 127.1 resolves to 127.0.0.1, " + LOOPBACK),
    "literal": ("http://127.0.0.1:{port}/literal", "refused: 127.0.0.1 is " + LOOPBACK),
    "name": ("http://localhost:{port}/name", "refused: localhost resolves to 127.0.0.1, " + LOOPBACK),
    "ipv6": ("http://[::1]:{port}/ipv6", "refused: ::1 is " + LOOPBACK),
    "mapped": ("http://[::ffff:127.0.0.1]:{port}/mapped",
               "refused: ::ffff:7f00:1 is an IPv4-mapped loopback address (of 127.0.0.1)"),
    "nat64": ("http://[64:ff9b::7f00:1]:{port}/nat64",
              "refused: 64:ff9b::7f00:1 is a NAT64 loopback address (of 127.0.0.1)"),
}


def api_hook(name: str, url: str, **fields: Any) -> WebhookConfig:
    return WebhookConfig(url=url, events=["message"], name=name, origin="api",
                         retries=RetryConfig(delay_seconds=0, attempts=5), **fields)


async def test_refused_targets_fail_at_attempt_time_dead_at_once_with_the_reason(tmp_path):
    async with Receiver() as rx:
        urls = {name: url.format(port=rx.port) for name, (url, _) in REFUSED_AT_ATTEMPT.items()}
        for url in urls.values():  # guard rail: never run the service with a form that passes
            with pytest.raises(ValueError):
                check_url_allowed(url)
        service = build_service(
            tmp_path, sessions={"default": [message("1@c.us", n) for n in range(2)]},
            webhooks=[{"url": rx.url("/trusted"), "events": ["message"]}])
        await service.sink.set_session_webhooks(
            "default", [api_hook(name, url) for name, url in urls.items()])
        await service.run_to_end()
        # The trusted webhook of the config file reaches loopback; nothing else arrived.
        assert sorted(r.path for r in rx.requests) == ["/trusted", "/trusted"]
    found = await attempts_by_url(service.config)
    for name, (_, reason) in REFUSED_AT_ATTEMPT.items():
        deliveries = found[urls[name]]
        assert len(deliveries) == 2, name
        for row, attempts in deliveries:
            assert row.endpoint == f"default/{name}"
            assert row.status == "dead", (name, row.status)  # no retry, though 5 were allowed
            assert [(a.status, a.error) for a in attempts] == [(None, reason)], name
    assert {row.status for row, _ in found[rx.url("/trusted")]} == {"delivered"}


async def test_allow_networks_let_an_untrusted_webhook_reach_a_loopback_receiver(tmp_path):
    async with Receiver() as rx:
        service = build_service(
            tmp_path, sessions={"default": [message("1@c.us", n) for n in range(3)]},
            webhooks=[], delivery={"allow_networks": ["127.0.0.0/8"]})
        await service.sink.set_session_webhooks("default", [
            api_hook("by-name", f"http://localhost:{rx.port}/by-name"),
            api_hook("literal", rx.url("/literal")),
            api_hook("ipv6", f"http://[::1]:{rx.port}/ipv6"),  # ::1 is not in 127.0.0.0/8
        ])
        await service.run_to_end()
        assert len(rx.delivered("/by-name")) == 3
        assert len(rx.delivered("/literal")) == 3
        assert rx.at("/ipv6") == []
    found = await attempts_by_url(service.config)
    assert {row.status for row, _ in found[f"http://[::1]:{rx.port}/ipv6"]} == {"dead"}


# -- the address is pinned: what was checked is what is connected to --------------------------

class StaticDNS(AbstractResolver):
    """A stand-in for DNS (not code of ours): fixed answers per name, one list per lookup
    (the last one repeats), so a test can make a name "rebind" between lookups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        seen = self.lookups.count(host)
        self.lookups.append(host)
        plan = self.answers[host]
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
                for address in plan[min(seen, len(plan) - 1)]]

    async def close(self) -> None:
        pass


@asynccontextmanager
async def listeners(addresses: Sequence[str]) -> AsyncIterator[tuple[int, dict[str, int]]]:
    """Minimal HTTP servers on the same port of several loopback addresses, counting the
    requests each got; every answer closes its connection (each attempt connects anew)."""
    hits = {address: 0 for address in addresses}

    def handler_for(address: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            await request.read()
            hits[address] += 1
            return web.Response(text="ok", headers={"Connection": "close"})
        return handle

    for _ in range(20):  # a port free on every address
        socks = []
        try:
            for address in addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind((address, socks[0].getsockname()[1] if len(socks) > 1 else 0))
            break
        except OSError:
            for sock in socks:
                sock.close()
    else:
        pytest.fail("no port free on every loopback address")
    port = socks[0].getsockname()[1]
    runners = []
    try:
        for address, sock in zip(addresses, socks, strict=True):
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler_for(address))
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
        yield port, hits
    finally:
        with anyio.CancelScope(shield=True):
            for runner in runners:
                await runner.cleanup()


def claimed(url: str) -> ClaimedDelivery:
    return ClaimedDelivery(id="dlv_test", event_id="evt_test", event_name="message", session="default",
                           event_timestamp=0, endpoint="default/pin", url=url, attempts=0, tries=0,
                           body=b"{}")


async def test_only_allowed_addresses_are_connected_to_and_every_connection_is_checked():
    dns = StaticDNS({
        # One allowed and one refused address: only the allowed one may be connected to.
        "mixed.test": [["127.0.0.1", "127.0.0.2"]],
        "loopback.test": [["127.0.0.1"]],
        # Rebinding: allowed on the first lookup, refused from the second on.
        "rebind.test": [["127.0.0.2"], ["127.0.0.1"]],
    })
    async with listeners(["127.0.0.1", "127.0.0.2"]) as (port, hits):
        hook = api_hook("pin", f"http://mixed.test:{port}/")
        with anyio.fail_after(10):
            async with untrusted_client_session(["127.0.0.2/32"], inner=dns) as http:
                answers = [await post(http, hook, claimed(f"http://mixed.test:{port}/"), n, None)
                           for n in range(1, 6)]
                assert [a.status_code for a in answers] == [200] * 5
                assert hits == {"127.0.0.1": 0, "127.0.0.2": 5}

                refused = await post(http, hook, claimed(f"http://loopback.test:{port}/"), 1, None)
                assert refused.refused and refused.status_code is None
                assert refused.error == "refused: loopback.test resolves to 127.0.0.1, " + LOOPBACK

                first = await post(http, hook, claimed(f"http://rebind.test:{port}/"), 1, None)
                second = await post(http, hook, claimed(f"http://rebind.test:{port}/"), 2, None)
                assert first.status_code == 200
                assert second.refused
                assert second.error == "refused: rebind.test resolves to 127.0.0.1, " + LOOPBACK
                assert dns.lookups.count("rebind.test") == 2  # checked again at the new connection
        assert hits == {"127.0.0.1": 0, "127.0.0.2": 6}
