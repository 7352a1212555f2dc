"""Commands to a running live session (through :class:`core.engine.CommandTarget`), and which
sessions start when the service does.

A command's failure (:class:`core.engine.CommandError`) becomes the answer WAHA gives for it:
``not_working`` 422, ``invalid`` 422, ``failed`` 422 with the library's reason,
``unsupported`` 501 naming the engine, ``busy`` 429, ``gone`` 503, ``timeout`` 504.
"""

from __future__ import annotations

from typing import Any

import anyio

from core.engine import CommandError, CommandTarget
from core.logging import get_logger
from plugins.api.errors import ApiError
from plugins.api.manager import SessionManager
from plugins.api.session_models import MeInfo, SessionConfigBody
from plugins.api.session_store import ApiSession, now_ms

log = get_logger("plugins.api")

COMMAND_STATUS = {"not_working": 422, "invalid": 422, "failed": 422, "unsupported": 501,
                  "busy": 429, "gone": 503, "timeout": 504}
#: How long the API waits for a bridge's answer.
COMMAND_TIMEOUT = 30.0


def command_target(manager: SessionManager, name: str, what: str) -> CommandTarget:
    """The running engine session of ``name`` that takes commands: 404 for no such session
    or one that is not running (WAHA), 422 when it has no bridge (a replay)."""
    manager.require_running(name)
    target = manager.engine_session(name)
    if not isinstance(target, CommandTarget):
        raise ApiError(422, "not_live", f"session {name!r} replays a recording: it has no {what}")
    return target


async def send(manager: SessionManager, name: str, command: str, args: dict[str, Any],
               what: str, *, timeout: float | None = COMMAND_TIMEOUT) -> Any:
    """``timeout=None``: the engine's own (a bridge's ``HOOKWIRE_BRIDGE_COMMAND_TIMEOUT``)."""
    target = command_target(manager, name, what)
    try:
        return await target.request(command, args, timeout=timeout)
    except CommandError as exc:
        status = COMMAND_STATUS.get(exc.code, 422)
        engine = manager.config_of(name).engine
        detail = exc.message if exc.code != "unsupported" else f"{engine}: {exc.message}"
        log.warning("session command failed", session=name, command=command, error=str(exc))
        raise ApiError(status, exc.code, detail) from None


async def request_code(manager: SessionManager, name: str, phone: str) -> str:
    result = await send(manager, name, "pairing-code", {"phone": phone.lstrip("+")}, "login")
    code = result.get("code") if isinstance(result, dict) else None
    if not isinstance(code, str) or not code:
        raise ApiError(422, "failed", f"the bridge answered without a code: {result!r}")
    log.info("pairing code requested", session=name)
    return code


async def logout(manager: SessionManager, name: str, *, restart: bool = True) -> None:
    """Log the account out (the bridge removes its auth state); the session is started again,
    waiting for a new login (WAHA), unless ``restart`` is false (it is then stopped)."""
    async with manager.lock:
        await send(manager, name, "logout", {}, "login to log out of")
        cfg = manager.config_of(name)
        await manager.stop_unit(name)
        if restart:
            await manager.start_unit(cfg)
    log.info("session logged out", session=name, restarted=restart)


async def me(manager: SessionManager, name: str) -> MeInfo | None:
    """The session's own account: from its events, else asked of a working bridge."""
    manager.require(name)
    info = manager.info(name)
    if info.me is not None:
        return info.me
    target = manager.engine_session(name)
    if info.status != "WORKING" or not isinstance(target, CommandTarget):
        return None
    try:
        result = await target.request("me", {}, timeout=COMMAND_TIMEOUT)
    except CommandError as exc:
        log.warning("session command failed", session=name, command="me", error=str(exc))
        return None
    if isinstance(result, dict) and isinstance(result.get("id"), str):
        push = result.get("pushName")
        lid = result.get("lid")
        return MeInfo(id=result["id"], pushName=push if isinstance(push, str) and push else None,
                      lid=lid if isinstance(lid, str) and lid else None)
    return None


# -- start-up --------------------------------------------------------------------------------

async def restore(manager: SessionManager) -> None:
    """Load the persisted sessions, hand their webhooks to the delivery service and start:
    those that were running (``WAHA_WORKER_RESTART_SESSIONS``, on by default), every one
    (``WHATSAPP_RESTART_ALL_SESSIONS``), and those named in ``WHATSAPP_START_SESSION``
    (created with the default engine when they do not exist), after
    ``WAHA_AUTO_START_DELAY_SECONDS``. A session that cannot be restored is logged, skipped."""
    config = manager.config
    records = await manager.store.all()
    kernel = manager.kernel
    await kernel.sessions_ready.wait()
    to_start: list[str] = []
    async with manager.lock:
        for record in records:
            if record.name in manager.file_sessions():
                log.warning("a session created over the API has the name of one in the config "
                            "file; the config file wins", session=record.name)
                continue
            try:
                manager.session_config(record.name, record.engine, record.config)
                await manager.set_webhooks(record.name, record.config)
            except ApiError as exc:
                log.error("session not restored", session=record.name, error=exc.detail,
                          path=exc.path)
                continue
            manager.api_sessions[record.name] = record
            if config.restart_all_sessions or (
                    config.worker_restart_sessions and record.desired == "running"):
                to_start.append(record.name)
            log.info("session restored", session=record.name, engine=record.engine,
                     webhooks=len(record.config.webhooks or []))
        for name in config.start_sessions:
            if not manager.exists(name):
                stamp = now_ms()
                record = ApiSession(name=name, engine=manager.engine_name(None),
                                    config=SessionConfigBody(), apps=None, desired="running",
                                    created_at=stamp, updated_at=stamp)
                await manager.store.put(record)
                manager.api_sessions[name] = record
                log.info("session created (WHATSAPP_START_SESSION)", session=name,
                         engine=record.engine)
            if name not in to_start:
                to_start.append(name)
    if to_start and config.auto_start_delay_seconds:
        await anyio.sleep(config.auto_start_delay_seconds)
    for name in to_start:
        async with manager.lock:
            if manager.running(name):
                continue
            try:
                await manager.start_unit(manager.config_of(name))
                await manager.set_desired(name, "running")
            except ApiError as exc:
                log.error("session not started", session=name, error=exc.detail)
                continue
        log.info("session started at boot", session=name)
