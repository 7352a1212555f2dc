"""Settings of the live bridges, read from the environment.

core's ``SessionConfig`` has no bridge keys yet, so these come from environment variables
(the data root also from the kernel's config). A
bad value is logged (naming the variable) and replaced by the default: settings are read when a
session is created, and that must not fail.

- ``HOOKWIRE_NODE`` (``node``): the Node.js executable.
- ``HOOKWIRE_DATA_DIR`` (else the kernel's ``[kernel] data_dir``, ``.hookwire``): the data
  root; a session's auth state is kept in ``<root>/sessions/<name>/auth``.
- ``HOOKWIRE_BRIDGE_BACKOFF_INITIAL`` (``0.5``), ``HOOKWIRE_BRIDGE_BACKOFF_MAX`` (``30``),
  ``HOOKWIRE_BRIDGE_BACKOFF_RESET`` (``60``): seconds before restarting a bridge that exited,
  doubling up to the maximum; a bridge that ran ``RESET`` seconds starts over from the initial.
- ``HOOKWIRE_BRIDGE_STOP_TIMEOUT`` (``10``): seconds a bridge gets to stop after
  ``{"cmd":"stop"}`` before SIGTERM; ``HOOKWIRE_BRIDGE_KILL_TIMEOUT`` (``3``): then SIGKILL.
- ``HOOKWIRE_BRIDGE_MAX_LINE_BYTES`` (16 MiB): the longest record line; a longer one is a bad
  record.
- ``HOOKWIRE_BRIDGE_LOG_LEVEL`` (the bridge's own: ``info``): ``--log-level`` of the bridge and
  its library (trace, debug, info, warn, error, fatal).
- ``HOOKWIRE_QR_TERMINAL`` (on when stderr is a terminal): ``1``/``0`` makes the bridge draw, or not, each QR code on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import msgspec

from core.logging import get_logger

log = get_logger("engines.bridge")

LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")


class BridgeSettings(msgspec.Struct, kw_only=True):
    node: str = "node"
    data_dir: str = ".hookwire"
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_reset: float = 60.0
    stop_timeout: float = 10.0
    kill_timeout: float = 3.0
    max_line_bytes: int = 16 * 1024 * 1024
    #: Max length of one stderr line; longer ones are logged cut to this length.
    max_log_line_bytes: int = 64 * 1024
    log_level: str | None = None
    qr_terminal: bool = False

    def auth_dir(self, session: str) -> Path:
        return (Path(self.data_dir).expanduser() / "sessions" / session / "auth").absolute()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BridgeSettings:
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            node=env.get("HOOKWIRE_NODE") or default.node,
            data_dir=env.get("HOOKWIRE_DATA_DIR") or default.data_dir,
            backoff_initial=_number(env, "HOOKWIRE_BRIDGE_BACKOFF_INITIAL", default.backoff_initial),
            backoff_max=_number(env, "HOOKWIRE_BRIDGE_BACKOFF_MAX", default.backoff_max),
            backoff_reset=_number(env, "HOOKWIRE_BRIDGE_BACKOFF_RESET", default.backoff_reset),
            stop_timeout=_number(env, "HOOKWIRE_BRIDGE_STOP_TIMEOUT", default.stop_timeout),
            kill_timeout=_number(env, "HOOKWIRE_BRIDGE_KILL_TIMEOUT", default.kill_timeout),
            max_line_bytes=int(_number(env, "HOOKWIRE_BRIDGE_MAX_LINE_BYTES", default.max_line_bytes,
                                       minimum=1)),
            log_level=_choice(env, "HOOKWIRE_BRIDGE_LOG_LEVEL", LOG_LEVELS),
            # A scannable QR on the terminal by default when there is one to scan it from.
            qr_terminal=(env["HOOKWIRE_QR_TERMINAL"] not in ("", "0", "false", "no")
                         if "HOOKWIRE_QR_TERMINAL" in env else sys.stderr.isatty()),
        )


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not value >= minimum or value == float("inf"):
        log.error("bad environment variable, using the default", variable=name, value=raw,
                  default=default, error=f"expected a number >= {minimum}")
        return default
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if raw not in choices:
        log.error("bad environment variable, ignored", variable=name, value=raw,
                  error=f"expected one of {', '.join(choices)}")
        return None
    return raw
