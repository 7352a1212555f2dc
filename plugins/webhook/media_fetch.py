"""Fetching a URL an API client gave (a media file to send), with the guard of untrusted
webhook targets (:mod:`plugins.webhook.ssrf`): the address is checked when the connection is
made, so a name that resolves to a refused address is refused too. The body is read up to a
size limit and the whole fetch is bounded by a timeout. Redirects are followed (at most 5),
each through the same guard.

This is :meth:`core.delivery.DeliveryService.fetch_untrusted`; the webhook plugin's service
calls it, other plugins reach it only through that method.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.message import Message
from pathlib import PurePosixPath

import aiohttp
import anyio
from yarl import URL

from core.delivery import FetchedFile, FetchError
from plugins.webhook.http import redact_url
from plugins.webhook.ssrf import TargetRefused, check_url_allowed, untrusted_client_session

MAX_REDIRECTS = 5
_CHUNK = 1 << 16


def _filename(response: aiohttp.ClientResponse) -> str | None:
    disposition = response.headers.get("Content-Disposition")
    if disposition:
        message = Message()
        message["Content-Disposition"] = disposition
        name = message.get_filename()
        if name:
            return PurePosixPath(name).name or None
    last = PurePosixPath(response.url.path).name
    return last or None


async def fetch_untrusted(url: str, *, max_bytes: int, timeout: float,
                          allow_networks: Iterable[str] = ()) -> FetchedFile:
    """See :meth:`core.delivery.DeliveryService.fetch_untrusted`."""
    shown = redact_url(url)
    try:
        check_url_allowed(url, allow_networks)
    except ValueError as exc:
        raise FetchError("refused", f"{shown}: {exc}") from None
    try:
        with anyio.fail_after(timeout):
            async with untrusted_client_session(allow_networks) as http:
                async with http.get(URL(url, encoded=False), allow_redirects=True,
                                    max_redirects=MAX_REDIRECTS) as response:
                    if response.status >= 400:
                        raise FetchError("failed", f"{shown}: the server answered HTTP "
                                                   f"{response.status} {response.reason or ''}".rstrip())
                    if response.content_length is not None and response.content_length > max_bytes:
                        raise FetchError("too_large", f"{shown}: the file has "
                                         f"{response.content_length} bytes, more than the "
                                         f"limit of {max_bytes}")
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        data += chunk
                        if len(data) > max_bytes:
                            raise FetchError("too_large", f"{shown}: the file is larger than "
                                             f"the limit of {max_bytes} bytes")
                    mimetype = response.content_type if "Content-Type" in response.headers else None
                    return FetchedFile(data=bytes(data), mimetype=mimetype,
                                       filename=_filename(response))
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError("timeout", f"{shown}: no complete answer in {timeout:g} s") from None
    except TargetRefused as exc:
        raise FetchError("refused", f"{shown}: {exc}") from None
    except aiohttp.TooManyRedirects:
        raise FetchError("failed", f"{shown}: more than {MAX_REDIRECTS} redirects") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, TargetRefused):
            cause = cause.__cause__  # aiohttp wraps the resolver's refusal
        if isinstance(cause, TargetRefused):
            raise FetchError("refused", f"{shown}: {cause}") from None
        raise FetchError("failed", f"{shown}: {type(exc).__name__}: {exc}") from None
