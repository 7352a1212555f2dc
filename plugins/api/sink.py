"""The API plugin's sink: it runs the HTTP server and watches the bus.

Subscribed to every event including ``engine.event`` with overflow ``drop`` (an observer: it
never holds the bus back), it keeps each session's latest status, ``me``, QR code and last
activity, and feeds WebSocket clients. ``run`` opens its session store and the delivery
service (``core.delivery``, registered by the delivering plugin), starts the server, restores
the persisted sessions once the kernel's sessions are up, and serves until the bus closes.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import msgspec
from aiohttp import web
from anyio.abc import TaskStatus

from core.bus import Subscription
from core.config import Config
from core.delivery import DELIVERY_SERVICE, DeliveryService
from core.logging import get_logger
from core.registry import Registry
from plugins.api.config import ApiConfig, is_loopback
from plugins.api.errors import ApiError
from plugins.api.manager import SessionManager
from plugins.api.openapi import build_openapi
from plugins.api.server import all_routes, build_app
from plugins.api.session_commands import restore
from plugins.api.session_store import ApiSessionStore
from plugins.api.state import SessionTracker
from plugins.api.ws import WsHub
from plugins.api.ws_tickets import TicketBook

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
        #: One-time tickets for browsers' WebSockets (``/ws?ticket=``).
        self.tickets = TicketBook()
        db = (config.resolve_path(self.config.sessions_db) if self.config.sessions_db
              else config.data_dir / "api-sessions.sqlite3")
        self.session_store = ApiSessionStore(db)
        self.manager = SessionManager(registry, self.config, Path(config.base_dir),
                                      self.session_store, self.tracker)
        #: The delivery service, once running (None when no plugin delivers).
        self.delivery_service: DeliveryService | None = None
        #: The port listened on once running (``port = 0`` picks one).
        self.port: int | None = None
        #: When the service started (Unix ms; for ``/api/server/status``).
        self.started_at = time.time_ns() // 1_000_000
        self._openapi: bytes | None = None
        self.ready = anyio.Event()

    @property
    def delivery(self) -> DeliveryService:
        """The delivery service; 503 when no plugin delivers (e.g. the webhook plugin is blocked)."""
        if self.delivery_service is None:
            raise ApiError(503, "no_delivery_plugin", "no delivery plugin is loaded (the webhook "
                           "plugin is blocked or failed to load)")
        return self.delivery_service

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
        host = self.config.listen_host
        site = web.TCPSite(runner, host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise RuntimeError(f"cannot listen on {host}:{self.config.port}: "
                               f"{exc.strerror or exc}") from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        return runner

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        service = self.registry.service(DELIVERY_SERVICE)
        if service is not None and not isinstance(service, DeliveryService):
            log.error("the registered delivery service lacks the DeliveryService interface; "
                      "deliveries and webhooks are unavailable over the API",
                      service=type(service).__name__)
            service = None
        await self.session_store.open()
        runner: web.AppRunner | None = None
        try:
            if service is not None:
                await service.open()
                self.delivery_service = self.manager.delivery = service
            runner = await self._listen()
            url = self.config.url(self.port)
            if self.config.api_key is None:
                log.warning("API listening without an API key: loopback only; set "
                            "WHATSAPP_API_KEY (or api.api_key) to require X-Api-Key and listen "
                            "on every interface", url=url,
                            loopback=is_loopback(self.config.listen_host))
            else:
                log.info("API listening", url=url, host=self.config.listen_host, port=self.port,
                         auth="X-Api-Key", docs=f"{url}/docs" if self.config.swagger_enabled else None)
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
                if self.delivery_service is not None:
                    await self.delivery_service.close()
                await self.session_store.close()
            log.info("API stopped")

    async def _restore(self) -> None:
        try:
            await restore(self.manager)
        except Exception as exc:  # never take the server down for one bad row
            log.error("cannot restore the API's sessions", error=f"{type(exc).__name__}: {exc}",
                      exc_info=True)
        self.ready.set()
