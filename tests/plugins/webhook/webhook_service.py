"""The service for the tests, in-process (``App`` + ``Kernel`` with the webhook plugin and the
SCRIPTED engine), its config and records, its store read back, and its logs watched.

Readiness is always an event (a log line was written), never a sleep; every wait is bounded
by ``anyio.fail_after``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import scripted_engine
import structlog
from structlog.testing import capture_logs

import plugins.webhook.plugin as webhook_plugin
from core.app import App
from core.kernel import Kernel
from plugins.webhook.sqlite_store import SQLiteDeliveryStore
from plugins.webhook.store import AttemptRow, DeliveryFilter, DeliveryRow

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
    """Every log line of the block, debug lines included: hot paths skip building a line at a
    level nobody reads (``core.logging.level_check``), so the level is debug meanwhile."""
    watch = LogWatch()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars, watch.processor]):
            yield watch
    finally:
        root.setLevel(level)


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
