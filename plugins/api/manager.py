"""Sessions as the API manages them: those of the config file (start and stop only) and those
created over the API (persisted, with their own webhooks, changeable and deletable).

Changes are serialized by one lock. Webhooks are handed to the webhook sink *before* a session
starts and after it stops, so no event of the session meets a webhook list that is not its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec

from core.config import SessionConfig
from core.kernel import Kernel, KernelNotRunning, SessionAlreadyRunning, SessionError, SessionNotRunning
from core.logging import get_logger
from core.registry import Registry
from plugins.api.config import ApiConfig
from plugins.api.errors import ApiError
from plugins.api.models import (
    EngineInfo,
    MeInfo,
    SessionConfigBody,
    SessionCreate,
    SessionInfo,
    SessionUpdate,
)
from plugins.api.session_store import ApiSession, ApiSessionStore, now_ms
from plugins.api.state import SessionTracker
from plugins.api.webhooks import set_session_webhooks, webhook_configs

log = get_logger("plugins.api")

STATUSES = ("STARTING", "SCAN_QR_CODE", "WORKING", "FAILED")


def _masked(config: SessionConfigBody) -> SessionConfigBody:
    """The config as shown: HMAC keys and secrets replaced by ``***``."""
    hooks = [msgspec.structs.replace(
        hook,
        hmac=msgspec.structs.replace(hook.hmac, key="***") if hook.hmac and hook.hmac.key else hook.hmac,
        secrets=["***" for _ in hook.secrets] if hook.secrets else hook.secrets)
        for hook in config.webhooks]
    return msgspec.structs.replace(config, webhooks=hooks)


def _file_body(cfg: SessionConfig) -> SessionConfigBody:
    return SessionConfigBody(metadata=cfg.metadata, source=cfg.source, replay=cfg.replay,
                             pace=cfg.pace, me_id=cfg.me_id, me_lid=cfg.me_lid,
                             me_push_name=cfg.me_push_name)


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

    def status(self, name: str) -> str:
        kernel = self.registry.kernel
        running = kernel is not None and name in kernel.session_names()
        known = self.tracker.get(name).status
        if not running:
            return "FAILED" if known == "FAILED" else "STOPPED"
        return known if known in STATUSES else "STARTING"

    def info(self, name: str) -> SessionInfo:
        if name in self.file_sessions():
            cfg = self.file_sessions()[name]
            engine, body, origin = cfg.engine, _file_body(cfg), "file"
        elif name in self.api_sessions:
            record = self.api_sessions[name]
            engine, body, origin = record.engine, _masked(record.config), "api"
        else:
            raise ApiError(404, "not_found", f"no session {name!r}")
        state = self.tracker.get(name)
        kernel = self.registry.kernel
        me = MeInfo(id=state.me.id, pushName=state.me.pushName) if state.me is not None else None
        return SessionInfo(name=name, status=self.status(name),  # type: ignore[arg-type]
                           engine=EngineInfo(engine=engine), me=me, config=body,
                           origin=origin,  # type: ignore[arg-type]
                           running=kernel is not None and name in kernel.session_names())

    def engine_session(self, name: str) -> Any:
        if not self.exists(name):
            raise ApiError(404, "not_found", f"no session {name!r}")
        kernel = self.kernel
        if name not in kernel.session_names():
            raise ApiError(409, "not_running", f"session {name!r} is not running")
        return kernel.engine_sessions.get(name)

    # -- building -------------------------------------------------------------------------------

    def hooks(self, name: str, body: SessionConfigBody) -> list[Any]:
        config = self.registry.config
        delivery = config.sections.get("delivery") if config is not None else None
        return webhook_configs(name, body.webhooks, self.registry.event_types.names(),
                               getattr(delivery, "allow_networks", ()))

    def session_config(self, name: str, engine: str | None, body: SessionConfigBody) -> SessionConfig:
        engine = engine or self.config.default_engine
        if engine not in self.registry.engines:
            known = ", ".join(sorted(self.registry.engines)) or "none loaded"
            raise ApiError(422, "invalid_body", f"unknown engine {engine!r} (known: {known})", "$.engine")
        replay = None
        if body.source == "replay":
            replay = str(self._replay_file(body.replay))
        try:
            return SessionConfig(name=name, engine=engine, source=body.source, replay=replay,
                                 pace=body.pace, metadata=body.metadata, me_id=body.me_id,
                                 me_lid=body.me_lid, me_push_name=body.me_push_name)
        except (ValueError, TypeError) as exc:
            raise ApiError(422, "invalid_body", str(exc), "$.config") from None

    def _replay_file(self, replay: str | None) -> Path:
        if self.replay_dir is None:
            raise ApiError(422, "invalid_body", "sessions created over the API cannot replay "
                           "recordings unless [api] replay_dir is set", "$.config.source")
        if not replay:
            raise ApiError(422, "invalid_body", "source 'replay' needs `replay` (a file in the "
                           "replay directory)", "$.config.replay")
        try:
            path = (self.replay_dir / replay).resolve()
        except (OSError, ValueError):
            path = None
        if path is None or not path.is_relative_to(self.replay_dir) or not path.is_file():
            raise ApiError(422, "invalid_body", f"no recording {replay!r} in the replay directory",
                           "$.config.replay")
        return path

    # -- changing -------------------------------------------------------------------------------

    async def _start(self, cfg: SessionConfig) -> None:
        self.tracker.reset(cfg.name)
        try:
            await self.kernel.start_session(cfg)
        except SessionAlreadyRunning:
            pass
        except KernelNotRunning as exc:
            raise ApiError(503, "not_ready", str(exc)) from None
        except SessionError as exc:
            raise ApiError(422, "invalid_body", str(exc)) from None

    async def _stop(self, name: str) -> None:
        try:
            await self.kernel.stop_session(name)
        except SessionNotRunning:
            pass

    async def create(self, body: SessionCreate) -> SessionInfo:
        cfg = self.session_config(body.name, body.engine, body.config)
        hooks = self.hooks(body.name, body.config)
        async with self.lock:
            if self.exists(body.name):
                raise ApiError(409, "exists", f"session {body.name!r} already exists")
            await set_session_webhooks(self.registry, body.name, hooks)
            stamp = now_ms()
            record = ApiSession(name=body.name, engine=cfg.engine, config=body.config,
                                desired="running" if body.start else "stopped",
                                created_at=stamp, updated_at=stamp)
            await self.store.put(record)
            self.api_sessions[body.name] = record
            log.info("session created", session=body.name, engine=cfg.engine, webhooks=len(hooks),
                     start=body.start)
            if body.start:
                await self._start(cfg)
        return self.info(body.name)

    async def update(self, name: str, body: SessionUpdate) -> SessionInfo:
        if body.name is not None and body.name != name:
            raise ApiError(422, "invalid_body", "a session cannot be renamed", "$.name")
        async with self.lock:
            record = self._api_session(name)
            cfg = self.session_config(name, body.engine or record.engine, body.config)
            hooks = self.hooks(name, body.config)
            old_rest = msgspec.structs.replace(record.config, webhooks=[])
            new_rest = msgspec.structs.replace(body.config, webhooks=[])
            restart = (old_rest != new_rest or cfg.engine != record.engine) and \
                name in self.kernel.session_names()
            if body.config.webhooks != record.config.webhooks:
                await set_session_webhooks(self.registry, name, hooks)  # no restart
            new = msgspec.structs.replace(record, engine=cfg.engine, config=body.config,
                                          updated_at=now_ms())
            await self.store.put(new)
            self.api_sessions[name] = new
            log.info("session updated", session=name, webhooks=len(hooks), restarted=restart)
            if restart:
                await self._stop(name)
                await self._start(cfg)
        return self.info(name)

    def _api_session(self, name: str) -> ApiSession:
        if name in self.file_sessions():
            raise ApiError(409, "from_config_file", f"session {name!r} is defined in the config "
                           "file: change it there")
        record = self.api_sessions.get(name)
        if record is None:
            raise ApiError(404, "not_found", f"no session {name!r}")
        return record

    def _config_of(self, name: str) -> SessionConfig:
        if name in self.file_sessions():
            return self.file_sessions()[name]
        record = self.api_sessions.get(name)
        if record is None:
            raise ApiError(404, "not_found", f"no session {name!r}")
        return self.session_config(name, record.engine, record.config)

    async def _set_desired(self, name: str, desired: str) -> None:
        record = self.api_sessions.get(name)
        if record is not None and name not in self.file_sessions() and record.desired != desired:
            record = msgspec.structs.replace(record, desired=desired, updated_at=now_ms())
            await self.store.put(record)
            self.api_sessions[name] = record

    async def start(self, name: str) -> SessionInfo:
        async with self.lock:
            cfg = self._config_of(name)
            if name not in self.kernel.session_names():
                await self._start(cfg)
            await self._set_desired(name, "running")
        return self.info(name)

    async def stop(self, name: str) -> SessionInfo:
        async with self.lock:
            if not self.exists(name):
                raise ApiError(404, "not_found", f"no session {name!r}")
            await self._stop(name)
            await self._set_desired(name, "stopped")
        return self.info(name)

    async def delete(self, name: str) -> None:
        async with self.lock:
            self._api_session(name)
            await self._stop(name)
            await set_session_webhooks(self.registry, name, [])
            await self.store.delete(name)
            del self.api_sessions[name]
            self.tracker.reset(name)
            log.info("session deleted", session=name)

    async def send_command(self, name: str, cmd: dict[str, Any], what: str) -> None:
        """Write ``cmd`` to a running live bridge: 409 when it is not running, 422 when the
        session has no bridge (a replay)."""
        session = self.engine_session(name)
        send = getattr(session, "send_command", None)
        if send is None:
            raise ApiError(422, "not_live", f"session {name!r} replays a recording: it has no {what}")
        try:
            await send(cmd)
        except RuntimeError as exc:  # the bridge is between two runs
            raise ApiError(409, "not_running", str(exc)) from None

    # -- start-up -------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Load the persisted sessions, hand their webhooks to the webhook sink and start the
        ones that were running. A session that cannot be restored is logged and skipped."""
        records = await self.store.all()
        kernel = self.kernel
        await kernel.sessions_ready.wait()
        async with self.lock:
            for record in records:
                if record.name in self.file_sessions():
                    log.warning("a session created over the API has the name of one in the config "
                                "file; the config file wins", session=record.name)
                    continue
                try:
                    cfg = self.session_config(record.name, record.engine, record.config)
                    hooks = self.hooks(record.name, record.config)
                    await set_session_webhooks(self.registry, record.name, hooks)
                except ApiError as exc:
                    log.error("session not restored", session=record.name, error=exc.detail,
                              path=exc.path)
                    continue
                self.api_sessions[record.name] = record
                if record.desired == "running":
                    try:
                        await self._start(cfg)
                    except ApiError as exc:
                        log.error("session not started", session=record.name, error=exc.detail)
                        continue
                log.info("session restored", session=record.name, engine=record.engine,
                         webhooks=len(hooks), running=record.desired == "running")
