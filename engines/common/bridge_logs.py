"""A bridge's stderr, logged through structlog.

A bridge writes JSON log lines ``{"level": "info", "msg": "...", ...fields}`` (its own and, in
the same shape, its library's pino logs); they are logged at their level with their message and
fields. Any other line (a Node.js crash report, a terminal QR code) is logged at info as
``line``. Field names that structlog or the kernel reserve are prefixed with ``bridge_``; the
session comes from the logging context, not from the bridge. JavaScript stack traces (fields
``trace`` and ``stack``, also inside an error object) are cut to their first line: a bridge's
failure is one readable log line, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from core.logging import get_logger

log = get_logger("engines.bridge")

_LEVELS = {
    "trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
    "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR,
    "fatal": logging.CRITICAL, "critical": logging.CRITICAL,
    10: logging.DEBUG, 20: logging.DEBUG, 30: logging.INFO, 40: logging.WARNING,
    50: logging.ERROR, 60: logging.CRITICAL,
}
#: Keys structlog, the log pipeline or the session's context own.
_RESERVED = frozenset({"event", "level", "logger", "timestamp", "engine", "log_level",
                       "exc_info", "stack_info", "bridge_pid"})
#: pino's bookkeeping, and the session (bound in the logging context already).
_DROPPED = frozenset({"time", "pid", "hostname", "v", "session"})
_STACKS = frozenset({"trace", "stack"})


def log_stderr_line(line: bytes, bridge_pid: int, truncated: bool = False) -> str | None:
    """Log one stderr line; for a warning or worse, return it in words (message and error),
    which the session keeps as its last error."""
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    if not text.strip():
        return None
    record = _json_object(text)
    extra: dict[str, Any] = {"bridge_pid": bridge_pid}
    if truncated:
        extra["truncated"] = True
    if record is None:
        log.info("bridge output", line=text, **extra)
        return None
    raw_level = record.pop("level", "info")
    level = _LEVELS.get(raw_level, logging.INFO) if isinstance(raw_level, str | int) else logging.INFO
    message = record.pop("msg", None)
    if not isinstance(message, str) or not message:
        message = "bridge log"
    for key, value in record.items():
        if key in _DROPPED:
            continue
        extra[f"bridge_{key}" if key in _RESERVED else key] = _without_stack(key, value)
    log.log(level, message, **extra)
    if level < logging.WARNING:
        return None
    error = extra.get("error")
    return f"{message}: {error}" if isinstance(error, str) and error else message


def _without_stack(key: str, value: Any) -> Any:
    if key in _STACKS and isinstance(value, str):
        return value.split("\n", 1)[0]
    if isinstance(value, dict) and any(k in value for k in _STACKS):
        return {k: _without_stack(k, v) for k, v in value.items()}
    return value


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None
