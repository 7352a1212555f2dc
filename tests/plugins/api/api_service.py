"""The service with its HTTP API, in-process, for the API tests: ``App`` + ``Kernel`` with the
webhook plugin, the API plugin and the SCRIPTED test engine, the API on a free loopback port,
and an aiohttp client to call it. Nothing is mocked; every wait is bounded.

The webhook tests' parts (``webhook_receiver``, ``webhook_service``, ``scripted_engine``) are
reused from ``tests/plugins/webhook``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio

WEBHOOK_TESTS = Path(__file__).resolve().parents[1] / "webhook"
if str(WEBHOOK_TESTS) not in sys.path:
    sys.path.insert(0, str(WEBHOOK_TESTS))

import scripted_engine  # noqa: E402  (tests/plugins/webhook)
from webhook_service import ME, toml_value  # noqa: E402

import plugins.api.plugin as api_plugin  # noqa: E402
import plugins.webhook.plugin as webhook_plugin  # noqa: E402
from core.app import App  # noqa: E402
from core.kernel import Kernel  # noqa: E402
from core.supervisor import Backoff  # noqa: E402

API_KEY = "test-key-0123456789-not-a-real-one"


def write_config(path: Path, tables: Mapping[str, Mapping[str, Any]],
                 arrays: Mapping[str, list[Mapping[str, Any]]]) -> Path:
    parts = [f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
             for name, values in tables.items()]
    for array, items in arrays.items():
        for item in items:
            parts.append(f"[[{array}]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in item.items()))
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def record(name: str, data: Any, ts: int | None = None) -> dict[str, Any]:
    """A native record of the SCRIPTED engine: event ``name`` with payload ``data``."""
    line: dict[str, Any] = {"type": name, "data": data}
    if ts is not None:
        line["ts"] = ts
    return line


def msg(n: int, chat: str = "1@c.us", ts: int | None = None) -> dict[str, Any]:
    return record("message", {"id": f"false_{chat}_M{n:05d}", "from": chat, "fromMe": False,
                              "body": f"#{n}", "seq": n}, ts)


@dataclass
class ApiService:
    app: App
    kernel: Kernel
    config: Path
    recordings: Path

    @property
    def api(self) -> Any:
        return next(s for s in self.app.registry.sinks if s.name == "api")

    @property
    def webhook(self) -> Any:
        return next(s for s in self.app.registry.sinks if s.name == "webhook")

    def recording(self, name: str, lines: list[dict[str, Any]]) -> str:
        """Write a recording into the API's replay directory; returns its name there."""
        path = self.recordings / name
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return name


def build(tmp_path: Path, *, api: Mapping[str, Any] | None = None,
          webhooks: list[Mapping[str, Any]] = (), delivery: Mapping[str, Any] | None = None,
          sessions: list[Mapping[str, Any]] = (), kernel: Mapping[str, Any] | None = None,
          environ: Mapping[str, str] | None = None, extra_plugins: list[tuple[str, Any]] = (),
          name: str = "hookwire") -> ApiService:
    """The service; by default the API has no key, webhooks may reach loopback (the test
    receivers), and API sessions may replay recordings from ``tmp_path/recordings``."""
    recordings = tmp_path / "recordings"
    recordings.mkdir(exist_ok=True)
    tables = {
        "kernel": {"grace_seconds": 5, "data_dir": str(tmp_path / "data"), **(kernel or {})},
        "log": {"level": "debug"},
        "delivery": {"store_path": str(tmp_path / f"{name}.sqlite3"),
                     "allow_networks": ["127.0.0.0/8"], **(delivery or {})},
        # The session store named: HOOKWIRE_DATA_DIR in the caller's environment must not
        # make tests share one.
        "api": {"enabled": True, "port": 0, "replay_dir": str(recordings),
                "sessions_db": str(tmp_path / "api-sessions.sqlite3"), **(api or {})},
    }
    session_tables = [{"engine": "SCRIPTED", "me_id": ME, **s} for s in sessions]
    config = write_config(tmp_path / f"{name}.toml", tables,
                          {"sessions": session_tables, "webhooks": list(webhooks)})
    app = App.load(extra_plugins=[("webhook", webhook_plugin), ("scripted", scripted_engine),
                                  ("api", api_plugin), *extra_plugins], entry_points=False)
    app.load_config(config, environ=environ or {})
    kernel_obj = Kernel(app, restart_backoff=lambda: Backoff(initial=0.05, maximum=0.1))
    return ApiService(app, kernel_obj, config, recordings)


class Client:
    """Calls the API; every answer is ``(status, decoded JSON or text)``."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        async with self.http.request(method, self.base + path, data=data, headers=hdrs) as response:
            payload = await response.read()
            if response.content_type == "application/json":
                return response.status, json.loads(payload)
            return response.status, payload

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, **kw)

    async def wait_status(self, session: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll ``GET /api/sessions/{session}`` until its status is ``status``."""
        with anyio.fail_after(timeout):
            while True:
                code, info = await self.get(f"/api/sessions/{session}")
                if code == 200 and info["status"] == status:
                    return info
                await anyio.sleep(0.02)


@asynccontextmanager
async def serving(service: ApiService, *, key: str | None = None,
                  timeout: float = 30.0) -> AsyncIterator[Client]:
    """Run the service while the block runs (the API ready: persisted sessions restored); stop
    it like SIGTERM when the block ends."""
    stop = anyio.Event()
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            await tg.start(service.kernel.run, stop)
            await service.api.ready.wait()
            headers = {"X-Api-Key": key} if key else {}
            async with aiohttp.ClientSession(headers=headers) as http:
                try:
                    yield Client(http, f"http://127.0.0.1:{service.api.port}")
                finally:
                    stop.set()
