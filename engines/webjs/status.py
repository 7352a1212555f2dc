"""WEBJS session status (mapping doc §4.5, §6.6, WAHA ``listenConnectionEvents``).

| native          | status                                                       |
|-----------------|--------------------------------------------------------------|
| ``qr``          | ``SCAN_QR_CODE`` on every QR; also remembers when (wall clock) |
| ``authenticated`` | ``WORKING``                                                |
| ``auth_failure`` | ``FAILED``                                                  |
| ``disconnected`` | ``FAILED``                                                  |
| ``ready``       | nothing (2026.2.1 only clears the QR)                        |
| ``change_state`` | nothing (WAHA's 2 s ``OPENING``/``TIMEOUT`` recheck needs the live client) |

The history (last 3) and the removal of consecutive ``WORKING`` are
:class:`engines.common.waha.SessionStatusTracker`'s. WAHA holds ``WORKING`` back for 2 s while
its ``me`` is unknown; a pure translator has no timers, so ``WORKING`` is emitted at once.
"""

from __future__ import annotations

STATUS_BY_NATIVE = {
    "qr": "SCAN_QR_CODE",
    "authenticated": "WORKING",
    "auth_failure": "FAILED",
    "disconnected": "FAILED",
}

STARTING = "STARTING"
