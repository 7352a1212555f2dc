"""``connection.update`` → ``session.status`` (§7.7) and ``state.change`` (§8); ``creds.update``
→ our own account.

Status rules, in WAHA's order: ``isNewLogin`` restarts (no status now); ``open`` is ``WORKING``;
``close`` with 515 restarts; ``close`` while ``SCAN_QR_CODE`` is ``FAILED``; ``close`` with any
code but 401 restarts; ``close`` with 401 (logged out) is ``FAILED``; ``close`` without
``lastDisconnect`` makes WAHA's handler throw (no status). Otherwise a ``qr`` gives
``SCAN_QR_CODE`` (also after ``isNewLogin``, as WAHA's handler falls through to it). A restart's
later ``STARTING`` comes from a 2 s timer in WAHA, not from a record, so it is not emitted, and
``WORKING`` is emitted at once (WAHA holds it 2 s while ``me`` is unknown; a pure translator
cannot wait).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from engines.common.records import BadRecord
from engines.noweb.identity import normalize_own_jid
from engines.noweb.js_semantics import is_number, js_truthy
from engines.noweb.record_shapes import (
    describe,
    need_object,
    need_str,
    optional_bool,
    optional_object,
    optional_str,
    present,
)

RESTART_REQUIRED = 515
LOGGED_OUT = 401


def disconnect_code(update: dict[str, Any]) -> Any:
    """``lastDisconnect.error?.output?.statusCode`` (``UNSET`` when any part is missing)."""
    last = optional_object(update.get("lastDisconnect", UNSET), "data.lastDisconnect")
    error = optional_object(last.get("error", UNSET), "data.lastDisconnect.error") if last else None
    output = optional_object(error.get("output", UNSET),
                             "data.lastDisconnect.error.output") if error else None
    code = output.get("statusCode", UNSET) if output else UNSET
    if present(code) and not is_number(code):
        raise BadRecord(f"data.lastDisconnect.error.output.statusCode: expected a number, "
                        f"got {describe(code)}")
    return code


def status_after(data: Any, current: str | None) -> tuple[dict[str, Any], str | None]:
    """Check a ``connection.update`` and return it with the status it leads to (or ``None``)."""
    update = need_object(data, "data")
    connection = optional_str(update.get("connection", UNSET), "data.connection")
    qr = optional_str(update.get("qr", UNSET), "data.qr")
    new_login = optional_bool(update.get("isNewLogin", UNSET), "data.isNewLogin")
    code = disconnect_code(update)
    if js_truthy(new_login):
        pass  # restart, no status now; the handler goes on to the QR check
    elif connection == "open":
        return update, "WORKING"
    elif connection == "close":
        if not present(update.get("lastDisconnect", UNSET)):
            return update, None
        if code == RESTART_REQUIRED:
            return update, None
        if current == "SCAN_QR_CODE":
            return update, "FAILED"
        return update, "FAILED" if code == LOGGED_OUT else None
    return update, "SCAN_QR_CODE" if js_truthy(qr) else None


def own_account_from_creds(data: Any) -> tuple[dict[str, Any], dict[str, str | None] | None]:
    """Check a ``creds.update``; return what ``engine.event`` may show of it (only ``me``: the
    rest is key material and is never forwarded) and our account when ``me`` is in it."""
    creds = need_object(data, "data")
    me = optional_object(creds.get("me", UNSET), "data.me")
    if me is None:
        return {}, None
    jid = need_str(me.get("id"), "data.me.id")
    lid = optional_str(me.get("lid", UNSET), "data.me.lid")
    name = optional_str(me.get("name", UNSET), "data.me.name")
    account = {
        "id": normalize_own_jid(jid),
        "lid": normalize_own_jid(lid) if present(lid) else None,
        "name": name if present(name) else None,
    }
    return {"me": me}, account
