"""The QR code of a live session waiting for a scan, drawn on the terminal (stderr).

Each new code (NOWEB's ``state.change`` ``{"qr"}``, WEBJS's ``engine.event`` ``qr``) is drawn
once, with segno's compact half-block characters, under a log line that says which session it
is for; the code's text is in that line too (``qr``), for logs read elsewhere.
``HOOKWIRE_QR_TERMINAL`` (``WAHA_PRINT_QR`` for ``serve``) switches the drawing on or off; by
default it is on when stderr is a terminal. Python draws it, not the bridge: one drawing per
code, never mixed into the bridge's log lines.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

import segno

from core.engine import Emission
from core.logging import get_logger

log = get_logger("engines.bridge")


def qr_text(emission: Emission) -> str | None:
    """The QR code an emission carries, if any."""
    payload: Any = emission.payload
    if emission.name == "state.change":
        qr = payload.get("qr") if isinstance(payload, Mapping) else getattr(payload, "qr", None)
    elif emission.name == "engine.event":
        if isinstance(payload, Mapping):
            native, qr = payload.get("event"), payload.get("data")
        else:
            native, qr = getattr(payload, "native_event", None), getattr(payload, "data", None)
        if native != "qr":
            return None
    else:
        return None
    return qr if isinstance(qr, str) and qr else None


def draw(text: str, out: TextIO) -> None:
    """``text`` as a QR code in half-block characters (two modules a character, a quiet zone)."""
    segno.make(text, error="l", micro=False).terminal(out=out, compact=True, border=2)
    out.write("\n")
    out.flush()


class TerminalQr:
    def __init__(self, session: str, enabled: bool, out: TextIO | None = None) -> None:
        self.session = session
        self.enabled = enabled
        self.out = out
        self.last: str | None = None

    def offer(self, emission: Emission) -> None:
        qr = qr_text(emission)
        if qr is None or qr == self.last:
            return
        self.last = qr
        log.info("scan this QR code with WhatsApp (Linked devices > Link a device)",
                 session=self.session, qr=qr, drawn=self.enabled)
        if self.enabled:
            draw(qr, self.out or sys.stderr)
