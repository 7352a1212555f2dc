"""``python -m core``: the service and its sub-commands. ``main(argv) -> int`` is what tests call.

Errors a user can cause (bad config, a plugin that fails in strict mode) print one clear line on
stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from core import __version__
from core.app import App
from core.config import ConfigError, config_path
from core.logging import configure_logging, get_logger
from core.plugins import PluginLoadError
from core.registry import Command
from core import builtin_commands

log = get_logger("core.cli")


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $HOOKWIRE_CONFIG, else config/default.toml)")
    parser.add_argument("--log-format", choices=["auto", "console", "json"],
                        help="log format (default: the config's; auto = console on a TTY, else JSON)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--strict-plugins", action="store_true",
                        default=os.environ.get("HOOKWIRE_STRICT_PLUGINS", "") not in ("", "0"),
                        help="a plugin that fails to load stops start-up ($HOOKWIRE_STRICT_PLUGINS)")
    parser.add_argument("--block-plugin", action="append", metavar="NAME", default=[],
                        help="do not load this plugin (entry-point or distribution name); "
                             "repeatable; also $HOOKWIRE_BLOCK_PLUGINS=a,b")


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="hookwire: WhatsApp engine events to webhooks, reliably.",
    )
    parser.add_argument("--version", action="version", version=f"hookwire {__version__}")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands.values():
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    _global_options(pre)
    early, _ = pre.parse_known_args(argv)
    configure_logging(early.log_format or "auto", early.log_level or "info")
    block = [*early.block_plugin,
             *filter(None, (b.strip() for b in os.environ.get("HOOKWIRE_BLOCK_PLUGINS", "").split(",")))]
    try:
        app = App.load(block=block, strict=early.strict_plugins)
    except PluginLoadError as exc:
        print(f"hookwire: {exc}", file=sys.stderr)
        return 2
    commands = {c.name: c for c in builtin_commands.commands()}
    for name, command in app.registry.commands.items():
        commands.setdefault(name, command)
    args = build_parser(commands).parse_args(argv)
    command = commands[args.command or "run"]
    if command.needs_config:
        try:
            config = app.load_config(config_path(args.config, os.environ))
        except (ConfigError, PluginLoadError) as exc:
            print(f"hookwire: config error: {exc}", file=sys.stderr)
            return 2
        configure_logging(args.log_format or config.core.log.format,
                          args.log_level or config.core.log.level)
    try:
        result = command.run(args, app)
        if inspect.isawaitable(result):
            result = anyio.run(_await, result)
    except ConfigError as exc:
        print(f"hookwire: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run() -> None:
    """The console entry point (``python -m core``)."""
    sys.exit(main())


__all__ = ["main", "run", "build_parser", "Path"]
