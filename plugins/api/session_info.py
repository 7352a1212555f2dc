"""A session as WAHA shows it (``SessionInfo``), from what the API knows: the session's
config, the kernel (running or not), the engine session's health and the events seen on the
bus (status, ``me``, QR code, last activity)."""

from __future__ import annotations

from typing import Any

from core.engine import HealthReporter, SessionHealth
from plugins.api.session_models import EngineInfo, MeInfo, SessionConfigBody, SessionInfo, Timestamps
from plugins.api.state import SessionState

#: Statuses a running session can be in; anything else seen is shown as STARTING.
RUNNING_STATUSES = ("STARTING", "SCAN_QR_CODE", "WORKING", "FAILED")


def engine_health(engine_session: Any) -> SessionHealth | None:
    """The session's health, when its engine reports one (live bridges do)."""
    if isinstance(engine_session, HealthReporter):
        try:
            return engine_session.health()
        except Exception:  # a broken reporter must not break the session resource
            return None
    return None


def session_status(running: bool, state: SessionState, health: SessionHealth | None) -> str:
    if health is not None and health.failed:
        return "FAILED"
    if not running:
        return "FAILED" if state.status == "FAILED" else "STOPPED"
    return state.status if state.status in RUNNING_STATUSES else "STARTING"


def build_info(*, name: str, engine: str, source: str, config: SessionConfigBody | None,
               origin: str, running: bool, state: SessionState, health: SessionHealth | None,
               mark_online: bool, worker_id: str | None, apps: Any,
               warnings: list[str]) -> SessionInfo:
    status = session_status(running, state, health)
    me = None
    if state.me is not None and state.me.id:
        me = MeInfo(id=state.me.id, pushName=state.me.pushName or None,
                    lid=getattr(state.me, "lid", None) or None)
    presence = None
    if running and status == "WORKING":
        presence = "online" if mark_online else "offline"
    activity = max(filter(None, (state.last_event_at,
                                 health.last_activity_at if health is not None else None)),
                   default=None)
    return SessionInfo(
        name=name, status=status,  # type: ignore[arg-type]
        config=config, me=me, presence=presence,  # type: ignore[arg-type]
        timestamps=Timestamps(activity=activity),
        engine=EngineInfo(engine=engine, source=source),
        assignedWorker=worker_id if running and worker_id else None,
        apps=apps, origin=origin,  # type: ignore[arg-type]
        running=running,
        last_error=health.last_error if health is not None else None,
        last_error_at=health.last_error_at if health is not None else None,
        restarts=health.restarts if health is not None else 0,
        stalls=health.stalls if health is not None else 0,
        warnings=warnings)
