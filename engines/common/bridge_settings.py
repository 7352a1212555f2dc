"""Settings of the live bridges, read from the environment.

They come from environment variables (the data root also from the kernel's config); what a
session asks of its bridge (proxy, device name, debug...) is in its ``SessionConfig``. Every
number has a range: a bad or out-of-range value is logged as an error naming the variable, the
range and the default used instead (settings are read when a session is created, and that must
not fail).

| variable | default | range | meaning |
|---|---|---|---|
| ``HOOKWIRE_NODE`` | ``node`` | | the Node.js executable |
| ``HOOKWIRE_DATA_DIR`` | kernel's ``data_dir`` | | auth state in ``<root>/sessions/<name>/auth`` |
| ``HOOKWIRE_BRIDGE_BACKOFF_INITIAL`` | 0.5 | 0.01-3600 s | first wait before restarting an exited bridge, doubling |
| ``HOOKWIRE_BRIDGE_BACKOFF_MAX`` | 30 | 0.01-86400 s | the longest wait (at least the initial one) |
| ``HOOKWIRE_BRIDGE_BACKOFF_RESET`` | 60 | 0-86400 s | a bridge that ran this long starts over from the initial wait |
| ``HOOKWIRE_BRIDGE_STOP_TIMEOUT`` | 10 | 0-600 s | time to stop after ``stop`` before SIGTERM |
| ``HOOKWIRE_BRIDGE_KILL_TIMEOUT`` | 3 | 0-600 s | then time before SIGKILL |
| ``HOOKWIRE_BRIDGE_MAX_LINE_BYTES`` | 16 MiB | 1 KiB-1 GiB | the longest record line; a longer one is a bad record |
| ``HOOKWIRE_BRIDGE_HEARTBEAT_SECONDS`` | 5 | 0.05-3600 s, 0 = off | the bridge's heartbeat period (``--heartbeat-seconds``) |
| ``HOOKWIRE_BRIDGE_STALL_SECONDS`` | 60 | 0.1-86400 s, 0 = off | a bridge silent this long is restarted (at least 2 heartbeats) |
| ``HOOKWIRE_BRIDGE_COMMAND_TIMEOUT`` | 30 | 0.1-600 s | how long a command waits for the bridge's answer |
| ``HOOKWIRE_BRIDGE_MAX_IN_FLIGHT`` | 16 | 1-1024 | commands in flight per session; more are refused (``busy``) |
| ``HOOKWIRE_BRIDGE_FAIL_AFTER`` | 10 | 0-1000, 0 = never | failed connection attempts in the window that make the session FAILED |
| ``HOOKWIRE_BRIDGE_FAIL_WINDOW`` | 600 | 1-86400 s | the window of ``FAIL_AFTER`` |
| ``HOOKWIRE_BRIDGE_LOG_LEVEL`` | the bridge's: info | trace...fatal | ``--log-level`` of the bridge and its library |
| ``HOOKWIRE_QR_TERMINAL`` | on for a terminal | 1/0 | each QR code is drawn on stderr (``engines/common/terminal_qr.py``) |
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
MIB = 1024 * 1024


class BridgeSettings(msgspec.Struct, kw_only=True):
    node: str = "node"
    data_dir: str = ".hookwire"
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_reset: float = 60.0
    stop_timeout: float = 10.0
    kill_timeout: float = 3.0
    max_line_bytes: int = 16 * MIB
    #: Max length of one stderr line; longer ones are logged cut to this length.
    max_log_line_bytes: int = 64 * 1024
    log_level: str | None = None
    qr_terminal: bool = False
    #: The bridge writes a ``hookwire.heartbeat`` record this often; 0: no heartbeats.
    heartbeat_seconds: float = 5.0
    #: A bridge that wrote nothing (not even a heartbeat) this long is restarted; 0: never.
    #: Only applies when heartbeats are on.
    stall_seconds: float = 60.0
    command_timeout: float = 30.0
    max_in_flight: int = 16
    #: Failed connection attempts within ``fail_window`` seconds that make the session FAILED;
    #: 0: keep trying for ever.
    fail_after: int = 10
    fail_window: float = 600.0

    def auth_dir(self, session: str) -> Path:
        return (Path(self.data_dir).expanduser() / "sessions" / session / "auth").absolute()

    @property
    def watchdog_on(self) -> bool:
        return self.heartbeat_seconds > 0 and self.stall_seconds > 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BridgeSettings:
        env = os.environ if environ is None else environ
        d = cls()

        def number(name: str, default: float, low: float, high: float, *,
                   off_allowed: bool = False, integer: bool = False) -> float:
            return _number(env, f"HOOKWIRE_BRIDGE_{name}", default, low, high,
                           off_allowed=off_allowed, integer=integer)

        backoff_initial = number("BACKOFF_INITIAL", d.backoff_initial, 0.01, 3600)
        backoff_max = number("BACKOFF_MAX", d.backoff_max, 0.01, 86400)
        if backoff_max < backoff_initial:
            log.error("bad environment variable, using the initial backoff",
                      variable="HOOKWIRE_BRIDGE_BACKOFF_MAX", value=backoff_max,
                      default=backoff_initial,
                      error=f"expected at least HOOKWIRE_BRIDGE_BACKOFF_INITIAL ({backoff_initial:g})")
            backoff_max = backoff_initial
        heartbeat = number("HEARTBEAT_SECONDS", d.heartbeat_seconds, 0.05, 3600, off_allowed=True)
        stall = number("STALL_SECONDS", d.stall_seconds, 0.1, 86400, off_allowed=True)
        if heartbeat and stall and stall < 2 * heartbeat:
            fixed = max(d.stall_seconds, 3 * heartbeat)
            log.error("bad environment variable, using the default",
                      variable="HOOKWIRE_BRIDGE_STALL_SECONDS", value=stall, default=fixed,
                      error=f"expected at least two heartbeats "
                            f"(2 x HOOKWIRE_BRIDGE_HEARTBEAT_SECONDS = {2 * heartbeat:g} s)")
            stall = fixed
        return cls(
            node=env.get("HOOKWIRE_NODE") or d.node,
            data_dir=env.get("HOOKWIRE_DATA_DIR") or d.data_dir,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            backoff_reset=number("BACKOFF_RESET", d.backoff_reset, 0, 86400),
            stop_timeout=number("STOP_TIMEOUT", d.stop_timeout, 0, 600),
            kill_timeout=number("KILL_TIMEOUT", d.kill_timeout, 0, 600),
            max_line_bytes=int(number("MAX_LINE_BYTES", d.max_line_bytes, 1024, 1024 * MIB,
                                      integer=True)),
            log_level=_choice(env, "HOOKWIRE_BRIDGE_LOG_LEVEL", LOG_LEVELS),
            # A scannable QR on the terminal by default when there is one to scan it from.
            qr_terminal=(env["HOOKWIRE_QR_TERMINAL"] not in ("", "0", "false", "no")
                         if "HOOKWIRE_QR_TERMINAL" in env else sys.stderr.isatty()),
            heartbeat_seconds=heartbeat,
            stall_seconds=stall,
            command_timeout=number("COMMAND_TIMEOUT", d.command_timeout, 0.1, 600),
            max_in_flight=int(number("MAX_IN_FLIGHT", d.max_in_flight, 1, 1024, integer=True)),
            fail_after=int(number("FAIL_AFTER", d.fail_after, 1, 1000, off_allowed=True,
                                  integer=True)),
            fail_window=number("FAIL_WINDOW", d.fail_window, 1, 86400),
        )


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, *,
            off_allowed: bool = False, integer: bool = False) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value: float | None = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is not None and (low <= value <= high or (off_allowed and value == 0)):
        return value
    kind = "a whole number" if integer else "a number"
    allowed = f"{kind} from {_shown(low)} to {_shown(high)}" + (" (0: off)" if off_allowed else "")
    log.error("bad environment variable, using the default", variable=name, value=raw,
              default=default, error=f"expected {allowed}")
    return default


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if raw not in choices:
        log.error("bad environment variable, ignored", variable=name, value=raw,
                  error=f"expected one of {', '.join(choices)}")
        return None
    return raw
