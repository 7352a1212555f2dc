"""``python -m core``: the service and its sub-commands. ``main(argv) -> int`` is what tests call.

Errors a user can cause (bad config, a plugin that fails in strict mode) print one clear line on
stderr and exit with status 2, never a traceback. Output piped into a reader that stops early
(``| head``) ends the command quietly with status 141 (128 + SIGPIPE, as a shell tool killed by
SIGPIPE), whatever the command was writing.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from core import __version__, builtin_commands
from core.app import App
from core.config import ConfigError, config_path
from core.logging import configure_logging, get_logger
from core.plugins import PluginLoadError
from core.registry import Command

log = get_logger("core.cli")


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """The options every command shares. They may also follow the command
    (``check-config --config x.toml``): there they default to ``SUPPRESS``, so that an option
    given before the command is not overwritten by the sub-parser's default."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if after_command else value

    parser.add_argument("--config", metavar="PATH", default=default(None),
                        help="config file (default: $HOOKWIRE_CONFIG, else config/default.toml)")
    parser.add_argument("--log-format", choices=["auto", "console", "json"], default=default(None),
                        help="log format (default: the config's; auto = console on a TTY, else JSON)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        default=default(None))
    parser.add_argument("--role", choices=["all", "engines", "worker"], default=default(None),
                        help="all: sessions and delivery (default); engines: sessions, write to the "
                             "store only; worker: deliver from the store only ($HOOKWIRE_ROLE)")
    parser.add_argument("--strict-plugins", action="store_true",
                        default=default(os.environ.get("HOOKWIRE_STRICT_PLUGINS", "") not in ("", "0")),
                        help="a plugin that fails to load stops start-up ($HOOKWIRE_STRICT_PLUGINS)")
    parser.add_argument("--block-plugin", action="append", metavar="NAME", default=default([]),
                        help="do not load this plugin (entry-point or distribution name); "
                             "repeatable; also $HOOKWIRE_BLOCK_PLUGINS=a,b")


def _prog() -> str:
    """``hookwire`` when run as the console script, else ``python -m core``."""
    return "hookwire" if Path(sys.argv[0]).name == "hookwire" else "python -m core"


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="hookwire: WhatsApp engine events to webhooks, reliably.",
    )
    parser.add_argument("--version", action="version", version=f"hookwire {__version__}")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands.values():
        # "resolve": a command's own option of the same name wins over the shared one
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help,
                                        conflict_handler="resolve")
        _global_options(command_parser, after_command=True)
        command.add_arguments(command_parser)
    return parser


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _parse(parse: Any, argv: list[str]) -> Any:
    """Run an argparse call; ``--help``, ``--version`` and usage errors exit through
    :class:`_ParserExit` so that ``main`` returns their status instead of raising."""
    try:
        return parse(argv)
    except SystemExit as exc:
        code = exc.code
        raise _ParserExit(code if isinstance(code, int) else (0 if code is None else 2)) from None


#: Exit status when stdout was closed by its reader (``| head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except _ParserExit as exc:
        return exc.status
    except BrokenPipeError:
        return _stdout_gone()
    except BaseExceptionGroup as group:  # raised inside a task group of an async command
        _, rest = group.split(BrokenPipeError)
        if rest is not None:
            raise
        return _stdout_gone()


def _stdout_gone() -> int:
    """The reader of stdout went away: point stdout at /dev/null, so that the interpreter's
    final flush of what is still buffered cannot fail once more (Python's own recipe,
    ``signal`` module docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    return EXIT_BROKEN_PIPE


def _main(argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    _global_options(pre)
    early, _ = _parse(pre.parse_known_args, argv)
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
    args = _parse(build_parser(commands).parse_args, argv)
    command = commands[args.command or "run"]
    if command.needs_config:
        try:
            environ: Mapping[str, str] = dict(os.environ)
            if command.config_environ is not None:
                environ = command.config_environ(environ)
            if args.role:
                environ = {**environ, "HOOKWIRE_ROLE": args.role}
            path = (Path(command.default_config) if command.default_config and not args.config
                    and not os.environ.get("HOOKWIRE_CONFIG") else config_path(args.config, os.environ))
            config = app.load_config(path, environ)
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
    """The console entry point (``python -m core``, and the ``hookwire`` script)."""
    sys.exit(main())


__all__ = ["main", "run", "build_parser", "Path"]
