"""Sessions as the API manages them: those of the config file (start, stop and restart only)
and those created over the API (persisted with WAHA's config and their own webhooks,
changeable and deletable).

Changes are serialized by one lock. Webhooks are handed to the delivery service *before* a
session starts and after it stops, so no event of the session meets a webhook list that is not
its own. Commands to a live session (pairing code, logout, ``me``) and the start-up policy
(which sessions start at boot) are in :mod:`plugins.api.session_commands`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec

from core.config import SessionConfig, SessionProxy
from core.delivery import DeliveryService, WebhookError
from core.kernel import Kernel, KernelNotRunning, SessionAlreadyRunning, SessionError, SessionNotRunning
from core.logging import get_logger
from core.registry import Registry
from core.ulid import new_ulid
from plugins.api.config import ApiConfig
from plugins.api.errors import ApiError
from plugins.api.session_info import build_info, engine_health, session_status
from plugins.api.session_models import SessionConfigBody, SessionCreate, SessionInfo, SessionUpdate
from plugins.api.session_store import ApiSession, ApiSessionStore, now_ms
from plugins.api.state import SessionTracker
from plugins.api.waha_config import WEBHOOKS_PATH, masked, session_config, unmasked, warnings_for, webhook_targets

log = get_logger("plugins.api")


def _file_body(cfg: SessionConfig) -> SessionConfigBody:
    return SessionConfigBody(metadata=cfg.metadata, source=cfg.source, replay=cfg.replay,
                             pace=cfg.pace, me_id=cfg.me_id, me_lid=cfg.me_lid,
                             me_push_name=cfg.me_push_name)


def new_session_name() -> str:
    """A name for a session created without one (WAHA: ``session_`` + an id)."""
    return "session_" + new_ulid().lower()


class SessionManager:
    def __init__(self, registry: Registry, config: ApiConfig, base_dir: Path,
                 store: ApiSessionStore, tracker: SessionTracker) -> None:
        self.registry = registry
        self.config = config
        self.replay_dir = None if config.replay_dir is None else (base_dir / config.replay_dir).resolve()
        self.store = store
        self.tracker = tracker
        self.api_sessions: dict[str, ApiSession] = {}
        self.lock = anyio.Lock()
        #: The delivery service (webhooks of sessions), once the API runs; None without one.
        self.delivery: DeliveryService | None = None
        self.default_proxy = (SessionProxy(server=config.proxy_server, username=config.proxy_username,
                                           password=config.proxy_password)
                              if config.proxy_server else None)

    # -- looking --------------------------------------------------------------------------------

    @property
    def kernel(self) -> Kernel:
        kernel = self.registry.kernel
        if kernel is None:
            raise ApiError(503, "not_ready", "no kernel is running")
        return kernel

    def file_sessions(self) -> dict[str, SessionConfig]:
        config = self.registry.config
        return {s.name: s for s in (config.core.sessions if config is not None else [])}

    def names(self) -> list[str]:
        return [*self.file_sessions(), *(n for n in self.api_sessions if n not in self.file_sessions())]

    def exists(self, name: str) -> bool:
        return name in self.api_sessions or name in self.file_sessions()

    def running(self, name: str) -> bool:
        kernel = self.registry.kernel
        return kernel is not None and name in kernel.session_names()

    def engine_session(self, name: str) -> Any:
        kernel = self.registry.kernel
        return kernel.engine_sessions.get(name) if kernel is not None else None

    def status(self, name: str) -> str:
        return session_status(self.running(name), self.tracker.get(name),
                              engine_health(self.engine_session(name)))

    def info(self, name: str) -> SessionInfo:
        apps: Any = None
        if name in self.file_sessions():
            cfg = self.file_sessions()[name]
            engine, body, origin, warnings = cfg.engine, _file_body(cfg), "file", []
            mark_online = cfg.mark_online
        elif name in self.api_sessions:
            record = self.api_sessions[name]
            engine, body, origin, apps = record.engine, masked(record.config), "api", record.apps
            warnings = warnings_for(engine, record.config, apps)
            noweb = record.config.noweb
            mark_online = noweb is None or noweb.markOnline is not False
        else:
            raise ApiError(404, "not_found", f"no session {name!r}")
        kernel = self.registry.kernel
        worker_id = kernel.app.config.core.kernel.worker_id if kernel is not None else None
        return build_info(name=name, engine=engine, source=body.source or "bridge", config=body,
                          origin=origin, running=self.running(name), state=self.tracker.get(name),
                          health=engine_health(self.engine_session(name)), mark_online=mark_online,
                          worker_id=worker_id, apps=apps, warnings=warnings)

    def require(self, name: str) -> None:
        if not self.exists(name):
            raise ApiError(404, "not_found", f"no session {name!r}")

    def require_running(self, name: str) -> None:
        """404 unless ``name`` runs (WAHA: a session must be started for this)."""
        self.require(name)
        if not self.running(name):
            raise ApiError(404, "not_running", f"session {name!r} is not running: start it first "
                           f"with POST /api/sessions/{name}/start")

    # -- building -------------------------------------------------------------------------------

    def engine_name(self, engine: str | None) -> str:
        engine = engine or self.config.default_engine
        if engine not in self.registry.engines:
            known = ", ".join(sorted(self.registry.engines)) or "none loaded"
            raise ApiError(422, "invalid_body", f"unknown engine {engine!r} (known: {known})", "$.engine")
        return engine

    def session_config(self, name: str, engine: str, body: SessionConfigBody) -> SessionConfig:
        replay = seed = None
        if (body.source or "bridge") == "replay":
            replay = str(self._replay_file(body.replay))
        if body.source == "sandbox" and body.sandbox is not None and body.sandbox.seed:
            seed = str(self._replay_file(body.sandbox.seed, "$.config.sandbox.seed"))
        try:
            return session_config(name, engine, body, replay=replay, default_proxy=self.default_proxy,
                                  seed=seed)
        except (ValueError, TypeError, msgspec.ValidationError) as exc:
            raise ApiError(422, "invalid_body", str(exc), "$.config") from None

    def _replay_file(self, replay: str | None, where: str = "$.config.replay") -> Path:
        if self.replay_dir is None:
            raise ApiError(422, "invalid_body", "sessions created over the API cannot replay "
                           "recordings unless [api] replay_dir is set",
                           "$.config.source" if where == "$.config.replay" else where)
        if not replay:
            raise ApiError(422, "invalid_body", "source 'replay' needs `replay` (a file in the "
                           "replay directory)", where)
        try:
            path = (self.replay_dir / replay).resolve()
        except (OSError, ValueError):
            path = None
        if path is None or not path.is_relative_to(self.replay_dir) or not path.is_file():
            raise ApiError(422, "invalid_body", f"no recording {replay!r} in the replay directory",
                           where)
        return path

    def check_webhooks(self, name: str, body: SessionConfigBody) -> None:
        targets = webhook_targets(body.webhooks)
        if not targets:
            return
        if self.delivery is None:
            raise ApiError(503, "no_delivery_plugin", "no delivery plugin is loaded: webhooks "
                           "cannot be set", WEBHOOKS_PATH)
        try:
            self.delivery.check_webhooks(name, targets)
        except WebhookError as exc:
            raise _webhook_error(exc) from None

    async def set_webhooks(self, name: str, body: SessionConfigBody | None) -> None:
        targets = webhook_targets(body.webhooks if body is not None else None)
        if self.delivery is None:
            if targets:
                raise ApiError(503, "no_delivery_plugin", "no delivery plugin is loaded: "
                               "webhooks cannot be set", WEBHOOKS_PATH)
            return
        try:
            await self.delivery.set_session_webhooks(name, targets)
        except WebhookError as exc:
            raise _webhook_error(exc) from None

    # -- changing -------------------------------------------------------------------------------

    async def start_unit(self, cfg: SessionConfig) -> None:
        self.tracker.reset(cfg.name)
        try:
            await self.kernel.start_session(cfg)
        except SessionAlreadyRunning:
            pass
        except KernelNotRunning as exc:
            raise ApiError(503, "not_ready", str(exc)) from None
        except SessionError as exc:
            raise ApiError(422, "invalid_body", str(exc)) from None

    async def stop_unit(self, name: str) -> None:
        try:
            await self.kernel.stop_session(name)
        except SessionNotRunning:
            pass

    def _log_warnings(self, name: str, engine: str, body: SessionConfigBody, apps: Any) -> None:
        for warning in warnings_for(engine, body, apps):
            log.warning("session config kept but not applied", session=name, error=warning)

    async def create(self, body: SessionCreate) -> SessionInfo:
        name = body.name or new_session_name()
        config = body.config or SessionConfigBody()
        engine = self.engine_name(body.engine)
        async with self.lock:
            if self.exists(name):
                raise ApiError(422, "exists", f"session {name!r} already exists: use PUT "
                               f"/api/sessions/{name} to update it", "$.name")
            config = unmasked(config, None)  # a mask here has nothing to stand for: refused
            await self._upsert(name, engine, config, body.apps, start=body.start is not False)
        return self.info(name)

    async def _upsert(self, name: str, engine: str, config: SessionConfigBody, apps: Any, *,
                      start: bool) -> None:
        """Create or replace an API session (under the lock)."""
        cfg = self.session_config(name, engine, config)
        self.check_webhooks(name, config)
        old = self.api_sessions.get(name)
        restart = old is not None and self.running(name) and (
            msgspec.structs.replace(old.config, webhooks=None)
            != msgspec.structs.replace(config, webhooks=None) or old.engine != engine)
        if old is None or old.config.webhooks != config.webhooks:
            await self.set_webhooks(name, config)  # applied at once, without a restart
        stamp = now_ms()
        desired = "running" if start or (old is not None and old.desired == "running") else "stopped"
        record = ApiSession(name=name, engine=engine, config=config, apps=apps, desired=desired,
                            created_at=old.created_at if old is not None else stamp, updated_at=stamp)
        await self.store.put(record)
        self.api_sessions[name] = record
        self._log_warnings(name, engine, config, apps)
        log.info("session saved", session=name, engine=engine, created=old is None,
                 webhooks=len(config.webhooks or []), restart=restart, start=start)
        if restart:
            await self.stop_unit(name)
        if restart or (start and not self.running(name)):
            await self.start_unit(cfg)

    async def update(self, name: str, body: SessionUpdate) -> SessionInfo:
        if body.name is not None and body.name != name:
            raise ApiError(422, "invalid_body", "a session cannot be renamed", "$.name")
        async with self.lock:
            record = self._api_session(name)
            config = unmasked(body.config or SessionConfigBody(), record.config)
            engine = self.engine_name(body.engine or record.engine)
            apps = body.apps if body.apps is not None else record.apps
            await self._upsert(name, engine, config, apps, start=False)
        return self.info(name)

    async def upsert_and_start(self, name: str, config: SessionConfigBody | None,
                               engine: str | None) -> SessionInfo:
        """The deprecated ``POST /api/sessions/start``: create or update, then start."""
        async with self.lock:
            if self.running(name):
                raise ApiError(422, "already_started", f"session {name!r} is already started")
            if name in self.file_sessions():
                if config is not None or engine is not None:
                    raise ApiError(409, "from_config_file", f"session {name!r} is defined in "
                                   "the config file: change it there")
                await self.start_unit(self.file_sessions()[name])
            else:
                old = self.api_sessions.get(name)
                body = unmasked(config or SessionConfigBody(), old.config if old else None)
                if config is None and old is not None:
                    body = old.config
                engine_name = self.engine_name(engine or (old.engine if old else None))
                await self._upsert(name, engine_name, body, old.apps if old else None, start=True)
        return self.info(name)

    def _api_session(self, name: str) -> ApiSession:
        if name in self.file_sessions():
            raise ApiError(409, "from_config_file", f"session {name!r} is defined in the config "
                           "file: change it there")
        record = self.api_sessions.get(name)
        if record is None:
            raise ApiError(404, "not_found", f"no session {name!r}")
        return record

    def config_of(self, name: str) -> SessionConfig:
        if name in self.file_sessions():
            return self.file_sessions()[name]
        record = self.api_sessions.get(name)
        if record is None:
            raise ApiError(404, "not_found", f"no session {name!r}")
        return self.session_config(name, record.engine, record.config)

    async def set_desired(self, name: str, desired: str) -> None:
        record = self.api_sessions.get(name)
        if record is not None and name not in self.file_sessions() and record.desired != desired:
            record = msgspec.structs.replace(record, desired=desired, updated_at=now_ms())
            await self.store.put(record)
            self.api_sessions[name] = record

    async def start(self, name: str) -> SessionInfo:
        async with self.lock:
            cfg = self.config_of(name)
            if not self.running(name):
                await self.start_unit(cfg)
            await self.set_desired(name, "running")
        return self.info(name)

    async def stop(self, name: str) -> SessionInfo:
        async with self.lock:
            self.require(name)
            await self.stop_unit(name)
            await self.set_desired(name, "stopped")
        return self.info(name)

    async def restart(self, name: str) -> SessionInfo:
        async with self.lock:
            cfg = self.config_of(name)
            await self.stop_unit(name)
            await self.start_unit(cfg)
            await self.set_desired(name, "running")
        return self.info(name)

    async def delete(self, name: str) -> None:
        """Stop and delete; deleting a session that does not exist is no error (WAHA)."""
        async with self.lock:
            if name not in self.file_sessions() and name not in self.api_sessions:
                return
            self._api_session(name)
            await self.stop_unit(name)
            await self.set_webhooks(name, None)
            await self.store.delete(name)
            del self.api_sessions[name]
            self.tracker.reset(name)
            log.info("session deleted", session=name)


def _webhook_error(exc: WebhookError) -> ApiError:
    path = WEBHOOKS_PATH
    if exc.index is not None:
        path += f"[{exc.index}]"
        if exc.field:
            path += ("" if exc.field.startswith("[") else ".") + exc.field
    return ApiError(422, "invalid_webhook", exc.message, path)
