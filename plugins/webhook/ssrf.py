"""SSRF protection for untrusted webhook URLs (those set over the API, ``origin = "api"``).

A URL an API client sets must not reach the host's private network unless the operator allows
it (``[delivery] allow_networks``). Three layers, all sharing :func:`refusal`:

* :func:`check_url_allowed` (no DNS): the API calls it when a webhook is set, for an early 422
  on IP literals in any spelling (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:…]``)
  and on ``localhost`` names.
* :class:`PinningResolver`: the resolver of the connector that untrusted deliveries go
  through. It resolves a name once per new connection, drops every refused address and hands
  the connector only the allowed ones, which it then connects to: the checked address *is* the
  connected address, so there is no DNS-rebinding window between check and connect.
* a ``TraceConfig`` request-start hook (aiohttp skips the resolver for IP-literal hosts) that
  checks literal hosts before each attempt.

A refusal raises :class:`TargetRefused` (a ``ValueError``); the attempt fails with its message,
e.g. ``refused: localhost resolves to 127.0.0.1, a loopback address``, and the delivery is dead
at once (see :func:`plugins.webhook.outcome.judge`). URLs from the config file and the
environment are the operator's own and are trusted: they never go through this module.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: Refused IPv4 ranges, most specific first, with what they are.
_REFUSED_V4: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "reserved ('this network')"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved (IETF protocol assignments)"),
    (_V4("192.0.2.0/24"), "reserved (documentation)"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay)"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "reserved (benchmarking)"),
    (_V4("198.51.100.0/24"), "reserved (documentation)"),
    (_V4("203.0.113.0/24"), "reserved (documentation)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

#: Refused IPv6 ranges (after the forms that embed an IPv4 address were unwrapped).
_REFUSED_V6: tuple[tuple[IPNetwork, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("64:ff9b:1::/48"), "private (local-use NAT64)"),
    (_V6("100::/64"), "reserved (discard-only)"),
    (_V6("2001::/23"), "reserved (IETF protocol assignments)"),
    (_V6("2001:db8::/32"), "reserved (documentation)"),
    (_V6("3fff::/20"), "reserved (documentation)"),
    (_V6("fc00::/7"), "unique local (ULA)"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_IPV4_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")

#: Names that always mean this host (RFC 6761), refused without asking DNS.
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class TargetRefused(ValueError):
    """The URL's host is, or resolves to, an address untrusted webhooks may not reach."""


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``allow_networks`` entries as networks; ValueError names the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"allow_networks: {value!r} is not a network like 10.0.0.0/8 ({exc})") from None
    return tuple(networks)


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "IPv4-compatible"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None


def _allowed_by(address: IPAddress, allow: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in allow)


def refusal(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """What ``address`` is (``"loopback"``, ``"IPv4-mapped private"`` …) when untrusted webhooks
    may not reach it, or ``None`` when they may. ``allow`` networks open exceptions; an address
    that embeds an IPv4 address is also allowed when that address is."""
    if _allowed_by(address, allow):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        embedded = _embedded_v4(address)
        if embedded is not None:
            inner, form = embedded
            if _allowed_by(inner, allow):
                return None
            reason = refusal(inner)
            if reason is not None:
                return f"{form} {reason}"
            if form == "IPv4-compatible":  # deprecated (RFC 4291): nothing public lives there
                return "reserved (IPv4-compatible)"
            return None
        table = _REFUSED_V6
    else:
        table = _REFUSED_V4
    for network, reason in table:
        if address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "reserved (not global unicast)"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address an IP-literal host means, in any spelling the C library accepts
    (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::1]``, ``fe80::1%eth0``), else ``None``."""
    host = host.strip().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:  # inet_aton is what getaddrinfo uses for numeric hosts: decimal, octal, hex, short
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _article(reason: str) -> str:
    starts_with_vowel_sound = reason[:1].lower() in "aeiou" and not reason.lower().startswith("uni")
    return "an" if starts_with_vowel_sound else "a"


def refusal_message(host: str, address: IPAddress, reason: str) -> str:
    """``refused: <host> resolves to 127.0.0.1, a loopback address`` (or ``<host> is …`` for a
    literal in canonical form; an embedded IPv4 address is named)."""
    what = f"{_article(reason)} {reason} address"
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_v4(address)):
        what += f" (of {embedded[0]})"
    if host.removeprefix("[").removesuffix("]") == str(address):
        return f"refused: {host} is {what}"
    return f"refused: {host} resolves to {address}, {what}"


def check_host(host: str, allow: Sequence[IPNetwork]) -> None:
    """Refuse an IP-literal host or a loopback name (no DNS); other names pass."""
    address = literal_address(host)
    if address is not None:
        reason = refusal(address, allow)
        if reason is not None:
            raise TargetRefused(refusal_message(host, address, reason))
        return
    name = host.lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        loopback = ipaddress.IPv4Address("127.0.0.1")
        if not _allowed_by(loopback, allow):
            raise TargetRefused(f"refused: {host} is a loopback name")


def check_url_allowed(url: str, allow_networks: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` saying why an untrusted webhook may not use ``url``: not http(s),
    or an IP-literal host (any spelling) or loopback name in a refused range. Hostnames are
    not resolved here (the API must not block on DNS); every attempt re-checks what they
    resolve to, at connect time."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"expected an http(s) URL, found {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"expected an http(s) URL like https://example.com/hook, found {url!r}")
    check_host(parsed.host, parse_networks(allow_networks))


async def check_url_resolves_allowed(url: str, allow_networks: Iterable[str] = ()) -> None:
    """:func:`check_url_allowed`, and a name must resolve to at least one allowed address
    (what an attempt would connect to). For callers that may wait for DNS."""
    check_url_allowed(url, allow_networks)
    parsed = URL(url)
    assert parsed.host is not None
    if literal_address(parsed.host) is None:
        resolver = PinningResolver(parse_networks(allow_networks))
        try:
            await resolver.resolve(parsed.host, parsed.port or 0, family=socket.AF_UNSPEC)
        except OSError as exc:
            raise ValueError(f"{parsed.host} does not resolve ({exc})") from None
        finally:
            await resolver.close()


class PinningResolver(AbstractResolver):
    """Resolves once, drops refused addresses, returns only allowed ones (or raises
    :class:`TargetRefused` naming the first refused address when none is left). The connector
    connects to exactly what it returns: the address is pinned."""

    def __init__(self, allow: Sequence[IPNetwork] = (), inner: AbstractResolver | None = None) -> None:
        self.allow = tuple(allow)
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        if literal_address(host) is not None:  # aiohttp resolves no literal itself; be sure
            check_host(host, self.allow)
        results = await self.inner.resolve(host, port, family=family)
        allowed = []
        refused: tuple[IPAddress, str] | None = None
        for result in results:
            address = ipaddress.ip_address(str(result["host"]).split("%", 1)[0])
            reason = refusal(address, self.allow)
            if reason is None:
                allowed.append(result)
            elif refused is None:
                refused = (address, reason)
        if not allowed:
            if refused is None:
                raise OSError(f"{host} resolved to no address")
            raise TargetRefused(refusal_message(host, *refused))
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def _literal_host_check(allow: Sequence[IPNetwork]) -> aiohttp.TraceConfig:
    """aiohttp never asks the resolver about IP-literal hosts: check them as a request starts."""

    async def on_request_start(session: aiohttp.ClientSession, context: Any,
                               params: aiohttp.TraceRequestStartParams) -> None:
        host = params.url.raw_host or ""
        if literal_address(host) is not None:
            check_host(params.url.host or host, allow)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace


def untrusted_client_session(allow_networks: Iterable[str] = (),
                             inner: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The HTTP client of untrusted webhooks: a pinning resolver, no DNS cache (every new
    connection resolves and checks again), literal hosts checked, no proxy from the
    environment. Create it inside the running loop; close it with ``async with``."""
    allow = parse_networks(allow_networks)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30,
                                     use_dns_cache=False, resolver=PinningResolver(allow, inner))
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 trace_configs=[_literal_host_check(allow)])
