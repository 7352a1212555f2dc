"""structlog, configured once: console lines on a TTY, JSON lines otherwise.

stdlib loggers (aiohttp, asyncio, third-party plugins) go through the same processor chain via
``structlog.stdlib.ProcessorFormatter``. ``event`` is structlog's message key, so a WhatsApp
event name is logged as ``event_name``. Context such as ``session``, ``engine``, ``plugin`` and
``delivery_id`` is bound with :func:`structlog.contextvars.bound_contextvars`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (stderr) in one format.

    ``fmt``: ``console``, ``json``, or ``auto`` (console on a TTY, else JSON lines).
    Safe to call more than once (tests, CLI sub-commands): the last call wins.
    """
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
        exc = [structlog.processors.dict_tracebacks]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        exc = []
    shared = _shared_processors()
    structlog.configure(
        # filter_by_level first: a filtered-out call costs a level check, not the whole chain.
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: structlog.testing.capture_logs() must see every logger.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exc, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_hookwire", False):
            root.removeHandler(old)
    handler._hookwire = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


def level_check(name: str) -> Callable[[int], bool]:
    """``level_check("plugins.webhook")(logging.DEBUG)``: would a line at that level be
    written? For hot paths that skip building a line nobody reads: it is the question
    ``filter_by_level`` asks, answered by the stdlib logger's cache (a structlog logger from
    :func:`get_logger` is built anew on every call, since loggers are not cached)."""
    return logging.getLogger(name).isEnabledFor
