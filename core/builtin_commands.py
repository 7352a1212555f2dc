"""The kernel's own sub-commands: ``run`` (the default), ``replay``, ``translate``,
``plugins`` and ``check-config``. Plugins add more through ``hookwire_register_commands``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec

from core.app import App
from core.config import ConfigError, SessionConfig, config_path, masked
from core.events import encoder, environment, make_event
from core.kernel import Kernel
from core.logging import console_format, get_logger
from core.plugins import PluginLoadError
from core.progress import report_progress
from core.registry import Command

log = get_logger("core.cli")


async def serve(kernel: Kernel) -> None:
    """Run ``kernel`` until it finishes or SIGINT/SIGTERM; a second signal stops at once."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if stop.is_set():
                        log.warning("second signal, stopping now", signal=signal.Signals(signum).name)
                        tg.cancel_scope.cancel()
                        return
                    log.info("signal received, stopping", signal=signal.Signals(signum).name,
                             grace_seconds=kernel.grace_seconds)
                    stop.set()

        tg.start_soon(watch_signals)
        tg.start_soon(report_progress, kernel, kernel.app.config.core.log.progress_seconds)
        await kernel.run(stop)
        tg.cancel_scope.cancel()


def _count(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n:,} " + (word[:-1] + "ies" if word.endswith("y") else word + "s")


def human_summary(what: str, summary: dict[str, Any], seconds: float) -> str:
    """The end of a run in words: events in, deliveries and what became of them, the time."""
    events = summary.get("events", 0)
    lines = [f"{what} done in {seconds:.1f} s: {_count(events, 'event')} in"
             + (f" ({events / seconds:,.0f}/s)" if seconds > 0 and events else "")]
    webhook = summary.get("webhook")
    if isinstance(webhook, dict):
        parts = [f"{webhook.get(k, 0):,} {k}" for k in ("delivered", "dead", "disabled")
                 if webhook.get(k) or k == "delivered"]
        retried = webhook.get("retried_attempts", 0)
        lines.append(f"  {_count(webhook.get('deliveries', 0), 'delivery')}: " + ", ".join(parts)
                     + (f"; {_count(retried, 'retried attempt')}" if retried else ""))
        if webhook.get("dead"):
            lines.append("  dead ones are kept: python -m core deliveries list --status dead")
    return "\n".join(lines)


def log_summary(what: str, summary: dict[str, Any], seconds: float) -> None:
    """A person reads the summary in words; JSON lines keep every number as a key."""
    if console_format():
        log.info(human_summary(what, summary, seconds))
    else:
        log.info("done", seconds=round(seconds, 3), **summary)


# -- run -------------------------------------------------------------------------------------

def _run_args(parser: argparse.ArgumentParser) -> None:
    del parser


async def _run(args: argparse.Namespace, app: App) -> int:
    kernel = Kernel(app)
    started = time.monotonic()
    await serve(kernel)
    log_summary("run", kernel.summary(), time.monotonic() - started)
    return _failed_status(kernel)


def _failed_status(kernel: Kernel) -> int:
    """1 (with one line naming them) when the kernel gave up a session or sink, else 0."""
    if kernel.failed_units:
        log.error("stopped with failed units", units=", ".join(kernel.failed_units))
        return 1
    return 0


# -- replay ----------------------------------------------------------------------------------

def _replay_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a JSONL recording of native event records")
    parser.add_argument("--engine", required=True, type=str.upper, help="WEBJS or NOWEB")
    parser.add_argument("--session", default="default", help="session name (default: default)")
    parser.add_argument("--pace", choices=["max", "recorded"], default="max",
                        help="max: as fast as possible; recorded: by the records' timestamps")
    parser.add_argument("--me", dest="me_id", help="the session's own JID, e.g. 11111111111@c.us")
    parser.add_argument("--me-lid", dest="me_lid", help="the session's own LID")
    parser.add_argument("--new-run", action="store_true",
                        help="new event ids: do not continue an unfinished run of this file "
                             "(a replay restarted after a crash keeps its ids by default)")


async def _replay(args: argparse.Namespace, app: App) -> int:
    if args.engine not in app.registry.engines:
        known = ", ".join(sorted(app.registry.engines))
        raise ConfigError(f"--engine: unknown engine {args.engine!r} (known: {known})")
    recording = Path(args.file).expanduser().resolve()
    if not recording.is_file():
        raise ConfigError(f"replay: no such file {args.file!r}")
    try:
        session = SessionConfig(name=args.session, engine=args.engine, source="replay",
                                replay=str(recording), pace=args.pace, me_id=args.me_id,
                                me_lid=args.me_lid, replay_run="new" if args.new_run else "continue")
    except (ValueError, TypeError, msgspec.ValidationError) as exc:
        raise ConfigError(str(exc)) from None
    kernel = Kernel(app, sessions=[session], exit_when_done=True)
    started = time.monotonic()
    await serve(kernel)
    seconds = time.monotonic() - started
    summary = {**kernel.summary(), "seconds": round(seconds, 3)}
    if console_format():
        log.info(human_summary("replay", summary, seconds))
    sys.stdout.write(encoder.encode(summary).decode() + "\n")
    sys.stdout.flush()
    dead = any(isinstance(v, dict) and v.get("dead") for v in summary.values())
    return _failed_status(kernel) or (1 if dead else 0)


# -- translate -------------------------------------------------------------------------------

def _translate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default="-", help="records file, or - for stdin")
    parser.add_argument("--engine", required=True, type=str.upper, help="WEBJS or NOWEB")
    parser.add_argument("--session", default="default")
    parser.add_argument("--me", dest="me_id", help="the session's own JID")
    parser.add_argument("--me-lid", dest="me_lid", help="the session's own LID")
    parser.add_argument("--me-push-name", dest="me_push_name",
                        help="the session's own name (me.pushName; without it the key is absent)")


class _TranslatedLine(msgspec.Struct):
    line: int
    envelopes: list[Any]


def _translate(args: argparse.Namespace, app: App) -> int:
    engine = app.registry.engines.get(args.engine)
    if engine is None:
        raise ConfigError(f"--engine: unknown engine {args.engine!r} "
                          f"(known: {', '.join(sorted(app.registry.engines))})")
    translator = engine.create_translator(args.session, args.me_id, args.me_lid)
    if args.me_push_name:
        translator.me_push_name = args.me_push_name
    env = environment(engine.name, app.config.core.kernel.worker_id)
    event_types = app.registry.event_types
    source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    out = sys.stdout.buffer
    buffer = bytearray()
    try:
        for number, line in enumerate(source, start=1):
            position = f"line {number}"
            emissions = translator.translate_line(line, position)
            try:
                envelopes = [make_event(event_types, e.name, e.payload, session=args.session,
                                        engine=engine.name, env=env, me=translator.me, key=e.key)
                             for e in emissions]
                encoder.encode_into(_TranslatedLine(number, envelopes), buffer)
            except Exception as exc:  # one line's envelopes, never the whole command
                report = getattr(translator, "bad", None)
                if report is not None:
                    report(position, None, f"cannot write its envelopes: {type(exc).__name__}: {exc}")
                buffer.clear()
                encoder.encode_into(_TranslatedLine(number, []), buffer)
            buffer.extend(b"\n")
            out.write(buffer)
            buffer.clear()
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        out.flush()
    if translator.bad_records:
        log.warning("bad records skipped", bad_records=translator.bad_records, engine=engine.name,
                    session=args.session)
    return 0


# -- plugins ---------------------------------------------------------------------------------

def _plugins_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per plugin")


def _plugins(args: argparse.Namespace, app: App) -> int:
    # Runs even when the config is broken (that is when one most needs this list): engines
    # and sinks, registered once the config is read, are then left out, with a note.
    try:
        app.load_config(config_path(args.config, os.environ))
    except (ConfigError, PluginLoadError) as exc:
        print(f"# config not loaded, engines and sinks not listed: {exc}", file=sys.stderr)
    for info in app.plugins:
        provided = app.registry.provided.get(info.name, [])
        if args.json:
            row = {**msgspec.structs.asdict(info), "registered": provided}
            print(encoder.encode(row).decode())
            continue
        state = "loaded" if info.loaded else f"FAILED ({info.error})"
        print(f"{info.name:<12} {info.distribution or '-'} {info.version or '-'}  [{state}]")
        for what in provided:
            print(f"    {what}")
    return 0


# -- check-config ----------------------------------------------------------------------------

def _check_config_args(parser: argparse.ArgumentParser) -> None:
    del parser


#: The kernel's own variables applied to the config (plugins read theirs, e.g. ``WHATSAPP_*``).
_KERNEL_VARIABLES = ("HOOKWIRE_DATA_DIR", "HOOKWIRE_WORKER_ID", "HOOKWIRE_ROLE")


def _check_config(args: argparse.Namespace, app: App) -> int:
    """The effective config: the file, then the environment (and ``--role``) over it."""
    config = app.config
    effective = {
        **msgspec.to_builtins(config.core),
        **{name: msgspec.to_builtins(value) for name, value in config.sections.items()},
    }
    applied = [name for name in sorted(os.environ)
               if (name in _KERNEL_VARIABLES or name.startswith("WHATSAPP_")) and os.environ[name]]
    sources = [*applied, *(["--role"] if getattr(args, "role", None) else [])]
    # One comment line, then the JSON (scripts read what follows the first line).
    over = f"; the environment's settings over the file's: {', '.join(sources)}" if sources else ""
    print(f"# {config.path}: OK (secrets masked){over}")
    print(msgspec.json.format(encoder.encode(masked(effective)), indent=2).decode())
    return 0


def commands() -> list[Command]:
    return [
        Command("run", "run the service (the default command)", _run_args, _run),
        Command("replay", "run one session from a recording against the configured webhooks, "
                "exit when every delivery is final", _replay_args, _replay),
        Command("translate", "translate native records to envelopes, one JSON line per input line",
                _translate_args, _translate),
        Command("plugins", "list the plugins that loaded and what they registered", _plugins_args,
                _plugins, needs_config=False),
        Command("check-config", "validate the config and print it, secrets masked",
                _check_config_args, _check_config),
    ]
