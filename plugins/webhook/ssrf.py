"""SSRF protection for untrusted webhook URLs (those set over the API, ``origin = "api"``).

Every webhook URL, whatever its origin, first goes through :func:`parse_target`: at most 2,048
characters, no whitespace or control characters, http(s) with a host, the host as it will be
resolved (yarl's IDNA form: ``１２７.０.０.１`` is ``127.0.0.1``) and never percent-encoded or
ending in a dot, so that what is checked is what is connected to.

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
import re
import socket
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from core.logging import mask_credentials

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


#: The longest webhook URL accepted (what browsers and most servers reliably take).
MAX_URL_LENGTH = 2048
#: A host name label as resolvers take it (after IDNA); ``_`` is common on private networks.
_HTTP = re.compile(r"https?://", re.I)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class TargetRefused(ValueError):
    """The URL's host is, or resolves to, an address untrusted webhooks may not reach."""

    def __init__(self, message: str, address: IPAddress | None = None) -> None:
        super().__init__(message)
        #: The refused address (for the hint naming ``allow_networks``).
        self.address = address


def _character(char: str) -> str:
    if char == " ":
        return "a space"
    if char == "\0":
        return "a NUL character"
    name = unicodedata.name(char, "")
    return f"the character U+{ord(char):04X}" + (f" ({name})" if name else "")


def _shown(url: str) -> str:
    """``url`` for an error message: no password, at most 100 characters."""
    url = mask_credentials(url)
    return repr(url if len(url) <= 100 else url[:100] + "…")


def _parse(url: str) -> URL:
    """``url`` as yarl parses it, refusing what yarl would silently change or drop."""
    if not isinstance(url, str):
        raise ValueError(f"expected an http(s) URL (a string), found {url!r}")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is {len(url)} characters long, more than {MAX_URL_LENGTH}: {_shown(url)}")
    if not _HTTP.match(url):
        raise ValueError(f"expected an http(s) URL like https://example.com/hook, found {_shown(url)}")
    for position, char in enumerate(url):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Zs"):
            raise ValueError(f"the URL contains {_character(char)} at position {position}: "
                             f"{_shown(url)} (percent-encode it in the path, e.g. %20)")
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"expected an http(s) URL, found {_shown(url)} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError(f"expected an http(s) URL like https://example.com/hook, found {_shown(url)}")
    if parsed.explicit_port == 0:
        raise ValueError(f"port 0 cannot be connected to: {_shown(url)}")
    return parsed


def _check_host_form(host: str) -> None:
    """Refuse host spellings a resolver may read differently from this module."""
    if "%" in host and ":" not in host:
        raise ValueError(f"the host {host!r} is percent-encoded: write it plainly")
    if "%" in host:
        raise ValueError(f"the host {host!r} has a zone (%…): zones are not accepted")
    if literal_address(host) is not None:
        return
    if host.endswith("."):
        raise ValueError(f"the host {host!r} ends with a dot: write it without (e.g. "
                         f"{host.rstrip('.')!r})")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError(f"the host {host!r} is not a valid host name (labels of 1-63 letters, "
                         "digits, '-' or '_', separated by single dots)")


def parse_target(url: str) -> URL:
    """A webhook URL, checked and parsed, or ValueError saying what is wrong: longer than
    :data:`MAX_URL_LENGTH`, whitespace or a control character anywhere, not http(s), no host,
    port 0, a percent-encoded host, a host ending in a dot or not a valid host name. The
    returned URL's ``raw_host`` is the normalised host (IDNA, lower case) that is resolved."""
    parsed = _parse(url)
    assert parsed.raw_host is not None
    _check_host_form(parsed.raw_host)
    return parsed


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
            raise TargetRefused(refusal_message(host, address, reason), address)
        return
    name = host.lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        loopback = ipaddress.IPv4Address("127.0.0.1")
        if not _allowed_by(loopback, allow):
            raise TargetRefused(f"refused: {host} is a loopback name", loopback)


def _with_allow_hint(exc: TargetRefused) -> TargetRefused:
    """The refusal, naming the setting that would allow it (for whoever set the URL)."""
    if exc.address is None:
        return exc
    network = ipaddress.ip_network(exc.address)
    return TargetRefused(f"{exc}; the operator can allow it with [delivery] allow_networks "
                         f"(e.g. allow_networks = [\"{network}\"])", exc.address)


def check_url_allowed(url: str, allow_networks: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` saying why an untrusted webhook may not use ``url``: what
    :func:`parse_target` refuses, or an IP-literal host (any spelling) or loopback name in a
    refused range (the message then names ``[delivery] allow_networks``). A refused address
    in disguise (``127.0.0.1.``, ``%31%32%37.0.0.1``) is named as what it is. Hostnames are
    not resolved here (the API must not block on DNS); every attempt re-checks what they
    resolve to, at connect time."""
    parsed = _parse(url)
    host = parsed.raw_host
    assert host is not None
    allow = parse_networks(allow_networks)
    decoded = unquote(host)
    try:  # the host as a lenient resolver would read it: decoded, and without its final dot
        for candidate in dict.fromkeys((decoded, decoded.rstrip("."))):
            if candidate:
                check_host(candidate, allow)
    except TargetRefused as exc:
        raise _with_allow_hint(exc) from None
    _check_host_form(host)


async def check_url_resolves_allowed(url: str, allow_networks: Iterable[str] = ()) -> None:
    """:func:`check_url_allowed`, and a name must resolve to at least one allowed address
    (what an attempt would connect to). For callers that may wait for DNS."""
    check_url_allowed(url, allow_networks)
    parsed = URL(url)
    assert parsed.raw_host is not None
    if literal_address(parsed.raw_host) is None:
        resolver = PinningResolver(parse_networks(allow_networks))
        try:
            await resolver.resolve(parsed.raw_host, parsed.port or 0, family=socket.AF_UNSPEC)
        except TargetRefused as exc:
            raise _with_allow_hint(exc) from None
        except OSError as exc:
            raise ValueError(f"{parsed.raw_host} does not resolve ({exc})") from None
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
            raise TargetRefused(refusal_message(host, *refused), refused[0])
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
