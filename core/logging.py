"""structlog, configured once: console lines on a TTY, JSON lines otherwise.

stdlib loggers (aiohttp, asyncio, third-party plugins) go through the same processor chain via
``structlog.stdlib.ProcessorFormatter``. ``event`` is structlog's message key, so a WhatsApp
event name is logged as ``event_name``. Context such as ``session``, ``engine``, ``plugin`` and
``delivery_id`` is bound with :func:`structlog.contextvars.bound_contextvars`.

No line can carry a URL's password: :func:`mask_url_credentials` runs on every rendered line
(structlog's and stdlib's, tracebacks included) and turns ``http://user:pa55@host`` into
``http://user:***@host``.

Console lines are :class:`core.console.ConsoleRenderer`'s: one line per entry that fits the
terminal, the fields that matter first, human units; JSON lines keep every key.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

import structlog
import structlog.tracebacks

#: ``scheme://userinfo@``: the userinfo ends at the last ``@`` before a path, query, fragment,
#: whitespace or quote (a password may hold an unescaped ``@``; a ``@`` later in the URL is not
#: userinfo).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#'\"<>\\]*)@")


def _masked_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match["userinfo"].partition(":")
    # ``user:password`` keeps the user; a lone userinfo (often a token) is hidden whole
    return f"{match['scheme']}{user}:***@" if colon else f"{match['scheme']}***@"


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``
    (``redis://:s3cret@host`` -> ``redis://:***@host``, ``https://token@host`` -> ``https://***@host``).
    Costs two substring searches when there is nothing to mask."""
    if "://" not in text or "@" not in text:
        return text
    return _USERINFO.sub(_masked_userinfo, text)


def mask_url_credentials(logger: Any, method_name: str, event: Any) -> Any:
    """A structlog processor: masks URL credentials in a rendered line (after the renderer) or
    in the top-level string values of an event dict (before it)."""
    del logger, method_name
    if isinstance(event, str):
        return mask_credentials(event)
    if isinstance(event, dict):
        for key, value in event.items():
            if isinstance(value, str) and "://" in value and "@" in value:
                event[key] = mask_credentials(value)
    return event


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
        # Frames without their local variables: a local may hold a key or a secret.
        exc = [structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))]
    else:
        from core.console import ConsoleRenderer

        renderer = ConsoleRenderer(colors=stream.isatty())
        exc = [structlog.processors.format_exc_info]
    global _format
    _format = fmt  # console or json
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
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exc, renderer,
                    # last: on the whole rendered line, so nested values and tracebacks too
                    mask_url_credentials],
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


_format = "json"


def console_format() -> bool:
    """Whether log lines are for a person (console) rather than JSON, as last configured."""
    return _format == "console"


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


def level_check(name: str) -> Callable[[int], bool]:
    """``level_check("plugins.webhook")(logging.DEBUG)``: would a line at that level be
    written? For hot paths that skip building a line nobody reads: it is the question
    ``filter_by_level`` asks, answered by the stdlib logger's cache (a structlog logger from
    :func:`get_logger` is built anew on every call, since loggers are not cached)."""
    return logging.getLogger(name).isEnabledFor
