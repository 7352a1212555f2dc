"""Real parts shared by the webhook tests: a scriptable receiver, log watching, the service
in-process or as a ``python -m core`` subprocess, and small record/config writers.

Readiness is always an event (a request arrived, a log line was written, a process printed),
never a sleep; every wait is bounded by ``anyio.fail_after``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import ssl
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog
from aiohttp import web
from multidict import CIMultiDict
from structlog.testing import capture_logs

import plugins.webhook.plugin as webhook_plugin
import scripted_engine
from core.app import App
from core.kernel import Kernel
from plugins.webhook.sqlite_store import SQLiteDeliveryStore
from plugins.webhook.store import AttemptRow, DeliveryFilter, DeliveryRow

# -- the receiver ----------------------------------------------------------------------------

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


# -- logs ------------------------------------------------------------------------------------

class LogWatch:
    """Every structlog entry of the block (context merged, ``_at``: when, monotonic), and
    waits on them."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._changed = anyio.Event()

    def processor(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        self.entries.append({**event_dict, "log_level": method_name, "_at": time.monotonic()})
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
        return event_dict

    def find(self, message: str, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("event") == message
                and all(e.get(k) == v for k, v in fields.items())]

    async def wait_for(self, message: str, count: int = 1, timeout: float = 10.0,
                       where: Callable[[dict[str, Any]], bool] | None = None,
                       **fields: Any) -> list[dict[str, Any]]:
        def matching() -> list[dict[str, Any]]:
            return [e for e in self.find(message, **fields) if where is None or where(e)]

        with anyio.fail_after(timeout):
            while len(matching()) < count:
                await self._changed.wait()
        return matching()


@contextmanager
def watch_logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars, watch.processor]):
        yield watch


# -- records and config ----------------------------------------------------------------------

ME = "11111111111@c.us"


def message(chat: str, n: int, name: str = "message", **extra: Any) -> dict[str, Any]:
    """A native record of the SCRIPTED engine: event ``name`` with a message payload in ``chat``."""
    return {"type": name, "data": {"id": f"false_{chat}_M{n:05d}", "from": chat, "fromMe": False,
                                   "body": f"{chat} #{n}", "seq": n, **extra}}


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, *, webhooks: list[dict[str, Any]] = (), kernel: dict[str, Any] | None = None,
                 delivery: dict[str, Any] | None = None,
                 sessions: list[dict[str, Any]] = ()) -> Path:
    """A config file; its store is the file of the same name with ``.sqlite3`` (unless
    ``delivery`` says otherwise)."""
    parts = []
    tables = {"kernel": {"grace_seconds": 5, **(kernel or {})},
              "log": {"level": "debug"},
              "delivery": {"store_path": str(store_file(path)), **(delivery or {})}}
    for name, values in tables.items():
        parts.append(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items()))
    for array, items in (("sessions", sessions), ("webhooks", webhooks)):
        for item in items:
            parts.append(f"[[{array}]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in item.items()))
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def store_file(config: Path) -> Path:
    return config.with_suffix(".sqlite3")


def store_statuses(config: Path) -> dict[tuple[str, str], int]:
    """Straight from the SQLite file: (endpoint, status) -> deliveries."""
    with closing(sqlite3.connect(store_file(config))) as conn:
        return {(endpoint, status): count for endpoint, status, count in conn.execute(
            "SELECT endpoint, status, COUNT(*) FROM deliveries GROUP BY endpoint, status")}


async def attempts_by_url(config: Path) -> dict[str, list[tuple[DeliveryRow, list[AttemptRow]]]]:
    """Every delivery with its attempts, read through the real store, by URL."""
    store = SQLiteDeliveryStore(store_file(config))
    await store.open()
    try:
        found: dict[str, list[tuple[DeliveryRow, list[AttemptRow]]]] = {}
        for row in await store.list_deliveries(DeliveryFilter(limit=10_000)):
            detail = await store.get_delivery(row.id)
            assert detail is not None
            found.setdefault(row.url, []).append(detail)
        return found
    finally:
        await store.close()


# -- the service in-process ------------------------------------------------------------------

@dataclass
class Service:
    app: App
    kernel: Kernel
    config: Path
    records: dict[str, Path] = field(default_factory=dict)

    @property
    def sink(self) -> Any:
        return self.app.registry.sinks[0]

    async def run_to_end(self, timeout: float = 15.0) -> None:
        """Run until every session's recording is done and every delivery is final."""
        with anyio.fail_after(timeout):
            await self.kernel.run(anyio.Event())

    @asynccontextmanager
    async def running(self, timeout: float = 20.0) -> AsyncIterator[anyio.Event]:
        """Run while the block runs; setting the yielded event (or leaving) stops it the way
        SIGTERM does (in-flight work gets ``grace_seconds``)."""
        stop = anyio.Event()
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as tg:
                await tg.start(self.kernel.run, stop)
                try:
                    yield stop
                finally:
                    stop.set()


def build_service(tmp_path: Path, *, webhooks: list[dict[str, Any]],
                  sessions: Mapping[str, list[dict[str, Any]]] | None = None,
                  session_options: Mapping[str, dict[str, Any]] | None = None,
                  kernel: dict[str, Any] | None = None, delivery: dict[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None, exit_when_done: bool = True,
                  name: str = "hookwire") -> Service:
    """The service in-process: the webhook plugin and the SCRIPTED engine, each session
    replaying its records (``{"type": event name, "data": payload}``); ``session_options``:
    more keys of a session's table, by session name."""
    records = {}
    session_tables = []
    for session, lines in (sessions or {}).items():
        records[session] = write_records(tmp_path / f"{name}-{session}.jsonl", lines)
        session_tables.append({"name": session, "engine": "SCRIPTED", "replay": str(records[session]),
                               "me_id": ME, "me_push_name": "Tester",
                               **(session_options or {}).get(session, {})})
    config = write_config(tmp_path / f"{name}.toml", webhooks=webhooks, kernel=kernel,
                          delivery=delivery, sessions=session_tables)
    app = App.load(extra_plugins=[("webhook", webhook_plugin), ("scripted", scripted_engine)],
                   entry_points=False)
    app.load_config(config, environ=environ or {})
    return Service(app, Kernel(app, exit_when_done=exit_when_done), config, records)


# -- the service as a subprocess -------------------------------------------------------------

_ISOLATED_PREFIXES = ("HOOKWIRE_", "WHATSAPP_HOOK_")


def core_env(site: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``python -m core`` subprocess: ours minus hookwire's variables,
    the SCRIPTED engine on ``PYTHONPATH``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED_PREFIXES)}
    env["PYTHONPATH"] = str(site)
    env.update(extra or {})
    return env


def core_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "core", "--log-format", "json", *args]


async def run_core(site: Path, *args: str, env: Mapping[str, str] | None = None,
                   cwd: Path | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
    """Run ``python -m core ARGS`` to its end without blocking the event loop (the service
    may be running in-process at the same time); returns (status, stdout, stderr)."""
    with anyio.fail_after(timeout):
        done = await anyio.run_process(core_command(*args), env=core_env(site, env), cwd=cwd,
                                       check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class CoreProcess:
    """A running ``python -m core``: its JSON log lines (stderr) and its stdout, as they come."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.logs: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self.stdout = ""
        self._changed = anyio.Event()

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        rest = b""
        async for chunk in self.process.stderr:
            rest += chunk
            *lines, rest = rest.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                self.stderr_lines.append(text)
                try:
                    self.logs.append(json.loads(text))
                except ValueError:
                    pass
            self._signal()

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        async for chunk in self.process.stdout:
            self.stdout += chunk.decode("utf-8", "replace")

    async def wait_log(self, message: str, timeout: float = 15.0, **fields: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for entry in self.logs:
                if entry.get("event") == message and all(entry.get(k) == v for k, v in fields.items()):
                    return entry
            return None

        with anyio.fail_after(timeout):
            while (entry := found()) is None:
                if self.process.returncode is not None:
                    raise AssertionError(f"process ended before logging {message!r}:\n"
                                         + "\n".join(self.stderr_lines[-30:]))
                await self._changed.wait()
        return entry

    async def wait(self, timeout: float = 20.0) -> int:
        with anyio.fail_after(timeout):
            return await self.process.wait()


@asynccontextmanager
async def core_process(site: Path, *args: str, env: Mapping[str, str] | None = None,
                       cwd: Path | None = None) -> AsyncIterator[CoreProcess]:
    """Start ``python -m core ARGS``; on the way out it is killed if still running."""
    process = await anyio.open_process(core_command(*args), env=core_env(site, env), cwd=cwd)
    async with process:
        running = CoreProcess(process)
        async with anyio.create_task_group() as tg:
            tg.start_soon(running._read_stderr)
            tg.start_soon(running._read_stdout)
            try:
                yield running
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.CancelScope(shield=True), anyio.fail_after(10):
                    await process.wait()
