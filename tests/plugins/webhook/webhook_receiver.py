"""A webhook receiver for the tests: an aiohttp server on 127.0.0.1 whose answers the test
scripts while it runs (statuses, delays, a black hole, resets, slow or huge bodies, redirects),
recording every request and letting the test wait for "N requests arrived" (no sleeps).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from aiohttp import web
from multidict import CIMultiDict

Action = Callable[["Receiver", web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: CIMultiDict[str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    at: float
    #: The status the receiver answered with (``None``: no answer, e.g. a reset or a black hole).
    answered: int | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json()["id"]

    @property
    def attempt(self) -> int:
        return int(self.headers["X-Webhook-Attempt"])

    @property
    def request_id(self) -> str:
        return self.headers["X-Webhook-Request-Id"]

    def header_count(self, name: str) -> int:
        return sum(1 for key, _ in self.raw_headers if key.decode().lower() == name.lower())


def ok(status: int = 200, body: bytes = b'{"ok":true}', headers: Mapping[str, str] | None = None,
       content_type: str = "application/json") -> Action:
    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=dict(headers or {}),
                            content_type=content_type)
    return answer


def fail(status: int = 500, **kwargs: Any) -> Action:
    return ok(status, b'{"ok":false}', **kwargs)


def delayed(seconds: float, then: Action | None = None) -> Action:
    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        with anyio.move_on_after(seconds):
            await rx.released.wait()
        return await (then or ok())(rx, request)
    return answer


def black_hole() -> Action:
    """Accept the request and never answer (until the receiver stops)."""
    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        await rx.released.wait()
        raise _NoAnswer
    return answer


def reset() -> Action:
    """Reset the connection (RST) instead of answering."""
    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        raise _NoAnswer
    return answer


def streamed(status: int, chunks: int, chunk: bytes, interval: float) -> Action:
    """Answer ``status`` at once, then a body of ``chunks`` pieces, ``interval`` s apart.
    ``rx.body_bytes_sent[path]`` counts what could be written before the client hung up."""
    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.content_length = chunks * len(chunk)
        await response.prepare(request)
        try:
            for index in range(chunks):
                if index:
                    with anyio.move_on_after(interval):
                        await rx.released.wait()
                await response.write(chunk)
                rx.body_bytes_sent[request.path] = rx.body_bytes_sent.get(request.path, 0) + len(chunk)
            await response.write_eof()
        except ConnectionError:
            rx.hung_up[request.path] = rx.hung_up.get(request.path, 0) + 1
            rx._signal()
        return response
    return answer


def fails_first(count: int, status: int = 500, then: Action | None = None,
                only: Callable[[dict[str, Any]], bool] | None = None) -> Action:
    """Fail the first ``count`` requests of each event (by the body's ``id``), then ``then``;
    with ``only``, just the events whose envelope it accepts (the others get ``then``)."""
    seen: dict[str, int] = {}

    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        envelope = json.loads(await request.read())
        if only is not None and not only(envelope):
            return await (then or ok())(rx, request)
        seen[envelope["id"]] = seen.get(envelope["id"], 0) + 1
        return await (fail(status) if seen[envelope["id"]] <= count else (then or ok()))(rx, request)
    return answer


def redirect(location: str, status: int = 307) -> Action:
    return ok(status, b"", headers={"Location": location})


class _NoAnswer(Exception):
    """Raised by actions that send no response; the handler turns it into a closed connection."""


class Receiver:
    """A webhook receiver on 127.0.0.1 whose answers the test scripts while it runs.

    ``respond(path, *actions, then=...)``: the next requests to ``path`` get ``actions`` in
    order, later ones ``then`` (default 200). Every request is recorded before it is answered.
    """

    def __init__(self, *, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.requested_port = port
        self.ssl_context = ssl_context
        self.requests: list[Received] = []
        self.plans: dict[str, list[Action]] = {}
        self.defaults: dict[str, Action] = {}
        self.body_bytes_sent: dict[str, int] = {}
        self.hung_up: dict[str, int] = {}
        self.released = anyio.Event()
        self._changed = anyio.Event()
        self._runner: web.AppRunner | None = None
        self.port = port

    # -- scripting ---------------------------------------------------------------------------

    def respond(self, path: str, *actions: Action, then: Action | None = None) -> None:
        self.plans[path] = list(actions)
        if then is not None:
            self.defaults[path] = then

    def url(self, path: str = "/hook") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    # -- what arrived ------------------------------------------------------------------------

    def at(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if path is None or r.path == path]

    def delivered(self, path: str | None = None) -> list[Received]:
        return [r for r in self.at(path) if r.answered is not None and 200 <= r.answered < 300]

    async def wait_until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while not check():
                await self._changed.wait()

    async def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Received]:
        """Return once ``count`` requests (to ``path``) have arrived."""
        await self.wait_until(lambda: len(self.at(path)) >= count, timeout)
        return self.at(path)

    async def wait_delivered(self, count: int, path: str | None = None,
                             timeout: float = 10.0) -> list[Received]:
        """Return once ``count`` requests (to ``path``) have been answered 2xx."""
        await self.wait_until(lambda: len(self.delivered(path)) >= count, timeout)
        return self.delivered(path)

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    # -- serving -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        record = Received(path=request.path, headers=CIMultiDict(request.headers),
                          raw_headers=tuple(request.raw_headers), body=body, at=time.monotonic())
        self.requests.append(record)
        self._signal()
        plan = self.plans.get(request.path)
        action = plan.pop(0) if plan else self.defaults.get(request.path, ok())
        try:
            response = await action(self, request)
        except _NoAnswer:
            if request.transport is not None:
                request.transport.close()
            self._signal()
            return web.Response(status=599)  # never reaches the client: the connection is gone
        record.answered = response.status
        self._signal()
        return response

    async def __aenter__(self) -> Receiver:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.requested_port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=self.ssl_context)
        await site.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.released.set()
        if self._runner is not None:
            with anyio.CancelScope(shield=True):
                await self._runner.cleanup()


def free_port() -> int:
    """A loopback port nobody listens on right now (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
