"""What the API knows of each session from the events on the bus: its latest
``session.status``, ``me`` and QR code.

The QR text comes from NOWEB's ``state.change`` payload (``{"qr": "2@…"}``) and from WEBJS's
``engine.event`` of native event ``qr`` (whose data is the QR string). It is forgotten once the
session is ``WORKING`` (scanned) or restarted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import msgspec

from core.events import Envelope, Me


class SessionState(msgspec.Struct, kw_only=True):
    status: str | None = None
    me: Me | None = None
    qr: str | None = None
    qr_at: int | None = None
    #: Unix ms of the session's last event on the bus.
    last_event_at: int | None = None


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


class SessionTracker:
    def __init__(self) -> None:
        self.sessions: dict[str, SessionState] = {}
        #: Set (and replaced) whenever an event was observed: for callers waiting for a state.
        self.changed = anyio.Event()
        self._waiting = 0

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``predicate()`` to hold; whether it does."""
        self._waiting += 1
        try:
            with anyio.move_on_after(timeout):
                while not predicate():
                    await self.changed.wait()
                return True
        finally:
            self._waiting -= 1
        return predicate()

    def get(self, name: str) -> SessionState:
        return self.sessions.get(name) or SessionState()

    def reset(self, name: str) -> None:
        """The session is (re)started: what was known of its last run is stale."""
        self.sessions.pop(name, None)

    def observe(self, event: Envelope) -> None:
        self._observe(event)
        if self._waiting:  # an Event per event only while someone waits
            changed, self.changed = self.changed, anyio.Event()
            changed.set()

    def _observe(self, event: Envelope) -> None:
        state = self.sessions.get(event.session)
        if state is None:
            state = self.sessions[event.session] = SessionState()
        if event.me is not None:
            state.me = event.me
        state.last_event_at = event.timestamp
        name = event.name
        payload = event.payload
        if name == "session.status":
            status = _field(payload, "status")
            if isinstance(status, str):
                state.status = status
                if status == "WORKING":
                    state.qr = state.qr_at = None
        elif name == "state.change":
            qr = _field(payload, "qr")
            if isinstance(qr, str) and qr:
                state.qr, state.qr_at = qr, event.timestamp
        elif name == "engine.event":
            data = _field(payload, "data")
            native = payload.get("event") if isinstance(payload, Mapping) else _field(payload, "native_event")
            if native == "qr" and isinstance(data, str) and data:
                state.qr, state.qr_at = data, event.timestamp
