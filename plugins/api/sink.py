"""The API plugin's sink: it runs the HTTP server and watches the bus.

Subscribed to every event including ``engine.event`` with overflow ``drop`` (an observer: it
never holds the bus back), it keeps each session's latest status, ``me`` and QR code and feeds
WebSocket clients. ``run`` opens its stores, starts the server, re-creates the sessions
persisted by earlier runs once the kernel's sessions are up, and serves until the bus closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
from aiohttp import web
from anyio.abc import TaskStatus

from core.bus import Subscription
from core.config import Config
from core.logging import get_logger
from core.registry import Registry
from plugins.api.config import ApiConfig, is_loopback
from plugins.api.manager import SessionManager
from plugins.api.metrics import AttemptLatencyReader
from plugins.api.openapi import build_openapi
from plugins.api.server import all_routes, build_app
from plugins.api.session_store import ApiSessionStore
from plugins.api.state import SessionTracker
from plugins.api.webhooks import webhook_sink
from plugins.api.ws import WsHub
from plugins.webhook.sink import open_store, store_path
from plugins.webhook.sqlite_store import SQLiteDeliveryStore

log = get_logger("plugins.api")


class ApiSink:
    name = "api"
    events = frozenset({"*", "engine.event"})
    overflow = "drop"

    def __init__(self, registry: Registry, config: Config) -> None:
        self.registry = registry
        self.app_config = config
        self.config: ApiConfig = config.section("api")
        self.tracker = SessionTracker()
        self.hub = WsHub(self.config.ws_buffer)
        db = (config.resolve_path(self.config.sessions_db) if self.config.sessions_db
              else config.data_dir / "api-sessions.sqlite3")
        self.session_store = ApiSessionStore(db)
        self.manager = SessionManager(registry, self.config, Path(config.base_dir),
                                      self.session_store, self.tracker)
        self.delivery_store = open_store(config)
        sqlite = isinstance(self.delivery_store, SQLiteDeliveryStore)
        self.latency = AttemptLatencyReader(
            store_path(config, config.section("delivery")) if sqlite else None)
        #: The port listened on once running (``port = 0`` picks one).
        self.port: int | None = None
        self._openapi: bytes | None = None
        self.ready = anyio.Event()

    @property
    def webhook_sink(self) -> Any:
        return webhook_sink(self.registry)

    def openapi_json(self) -> bytes:
        if self._openapi is None:
            document = build_openapi(all_routes(), engines=list(self.registry.engines),
                                     event_names=self.registry.event_types.names(),
                                     secured=self.config.api_key is not None)
            self._openapi = msgspec.json.encode(document)
        return self._openapi

    def begin_shutdown(self) -> None:
        pass

    async def _listen(self) -> web.AppRunner:
        runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False,
                               shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise RuntimeError(f"cannot listen on {self.config.host}:{self.config.port}: "
                               f"{exc.strerror or exc}") from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        return runner

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        await self.session_store.open()
        await self.delivery_store.open()
        await self.latency.update()
        runner: web.AppRunner | None = None
        try:
            runner = await self._listen()
            host = self.config.host
            url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"
            if self.config.api_key is None:
                log.warning("API listening without an API key: loopback only; set api.api_key "
                            "(or WHATSAPP_API_KEY) to listen elsewhere", url=url,
                            loopback=is_loopback(host))
            else:
                log.info("API listening", url=url, auth="X-Api-Key")
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._restore)
                task_status.started()
                async for event in subscription:
                    self.tracker.observe(event)
                    self.hub.publish(event)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.hub.close_all()
                if runner is not None:
                    await runner.cleanup()
                await self.delivery_store.close()
                await self.session_store.close()
            log.info("API stopped")

    async def _restore(self) -> None:
        try:
            await self.manager.restore()
        except Exception as exc:  # never take the server down for one bad row
            log.error("cannot restore the API's sessions", error=f"{type(exc).__name__}: {exc}",
                      exc_info=True)
        self.ready.set()
