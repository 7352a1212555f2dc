"""``hookwire serve`` (``python -m core serve``): the long-running, WAHA-compatible service.

The API always runs; sessions come from the API's session store, ``WHATSAPP_START_SESSION``
and the config file (embedded default: ``config/serve.toml``, no demo sessions, no demo
receiver). WAHA's variables are read (``plugins.api.config.ENV``, ``WAHA_API_KEY``,
``PORT``…) and the ones that belong elsewhere are mapped here: ``WAHA_WORKER_ID`` (the worker
id), ``WAHA_LOG_FORMAT`` / ``WAHA_LOG_LEVEL`` (when no ``--log-*`` option is given) and
``WAHA_PRINT_QR`` (the bridges' QR on the terminal). It stops on SIGINT/SIGTERM and on
``POST /api/server/stop``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from core.app import App
from core.builtin_commands import serve
from core.config import DEFAULT_CONFIG_PATH, ConfigError
from core.kernel import Kernel
from core.logging import configure_logging, get_logger
from core.registry import Command

log = get_logger("plugins.api")

SERVE_CONFIG = DEFAULT_CONFIG_PATH.parent / "serve.toml"
LOG_FORMATS = {"PRETTY": "console", "JSON": "json"}
LOG_LEVELS = {"error": "error", "warn": "warning", "warning": "warning", "info": "info",
              "debug": "debug", "trace": "debug"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def config_environ(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment serve reads its config with: the API on, WAHA's worker id."""
    env = {**environ, "HOOKWIRE_API_ENABLED": "1"}
    if env.get("WAHA_WORKER_ID", "").strip() and not env.get("HOOKWIRE_WORKER_ID"):
        env["HOOKWIRE_WORKER_ID"] = env["WAHA_WORKER_ID"].strip()
    return env


def waha_logging(args: argparse.Namespace, app: App, environ: Mapping[str, str]) -> None:
    """``WAHA_LOG_FORMAT`` / ``WAHA_LOG_LEVEL``, between the ``--log-*`` options and the file."""
    fmt_var, level_var = environ.get("WAHA_LOG_FORMAT", "").strip(), environ.get("WAHA_LOG_LEVEL", "").strip()
    if not fmt_var and not level_var:
        return
    fmt = LOG_FORMATS.get(fmt_var.upper()) if fmt_var else None
    if fmt_var and fmt is None:
        raise ConfigError(f"WAHA_LOG_FORMAT: expected PRETTY or JSON, found {fmt_var!r}")
    level = LOG_LEVELS.get(level_var.lower()) if level_var else None
    if level_var and level is None:
        raise ConfigError(f"WAHA_LOG_LEVEL: expected one of error, warn, info, debug, trace, "
                          f"found {level_var!r}")
    core = app.config.core
    configure_logging(args.log_format or fmt or core.log.format,
                      args.log_level or level or core.log.level)


def print_qr(environ: Mapping[str, str]) -> None:
    """``WAHA_PRINT_QR`` -> the bridges' ``HOOKWIRE_QR_TERMINAL`` (unless that is set)."""
    value = environ.get("WAHA_PRINT_QR", "").strip().lower()
    if not value or "HOOKWIRE_QR_TERMINAL" in environ:
        return
    if value not in (*_TRUE, *_FALSE):
        raise ConfigError(f"WAHA_PRINT_QR: expected true or false, found {value!r}")
    os.environ["HOOKWIRE_QR_TERMINAL"] = "1" if value in _TRUE else "0"


def _args(parser: argparse.ArgumentParser) -> None:
    del parser


async def _serve(args: argparse.Namespace, app: App) -> int:
    waha_logging(args, app, os.environ)
    print_qr(os.environ)
    api = app.config.section("api")
    engines = app.registry.engines
    if api.default_engine not in engines:
        known = ", ".join(sorted(engines)) or "none loaded"
        raise ConfigError(f"WHATSAPP_DEFAULT_ENGINE / api.default_engine: unknown engine "
                          f"{api.default_engine!r} (known: {known})")
    if not any(sink.name == "api" for sink in app.registry.sinks):
        raise ConfigError("serve needs the API plugin's sink, which did not register "
                          "(is the `api` plugin blocked?)")
    kernel = Kernel(app, exit_when_done=False)
    await serve(kernel)
    log.info("service stopped", **kernel.summary())
    return 0


def command() -> Command:
    return Command("serve", "run the long-running service with its HTTP API (WAHA-compatible; "
                   "reads WAHA's environment variables)", _args, _serve,
                   default_config=Path(SERVE_CONFIG), config_environ=config_environ)
