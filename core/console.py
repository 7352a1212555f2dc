"""Log lines for a person at a terminal (``--log-format console``; JSON lines keep every key).

One line per entry, no wider than the terminal: local time, a short level, the message, then
the fields that matter most first (session, event, status, attempt, outcome, error, where),
each once (a value equal to one already shown is left out, e.g. an endpoint named by its URL),
with human units: ``took=12ms``, ``next=in 2s``, ``events=12,345``. Fields that do not fit are
left out and the line ends with ``…``; the JSON output has them all. Context bound for every
line of a component (``plugin``) and the logger name are not repeated on each line. A
traceback, when there is one, follows on its own lines.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from datetime import datetime
from typing import Any

import msgspec

#: Shown first, in this order; the other fields follow in the order they were given.
PRIORITY = ("session", "event_name", "status", "attempt", "outcome", "next_attempt_at", "error",
            "response",
            "endpoint", "url", "duration_ms", "delivery_id", "engine",
            # the progress line's
            "events", "in_rate", "delivered", "rate", "pending", "retrying", "dead", "failing")
#: Not shown: in every line already (level, time), or bound context that repeats.
HIDDEN = frozenset({"timestamp", "level", "logger", "plugin", "event", "exception", "_record",
                    "_from_structlog", "log_level"})
#: Display names: shorter than the JSON keys.
SHORT = {"event_name": "event", "duration_ms": "took", "next_attempt_at": "next",
         "delivery_id": "delivery", "event_id": "evt"}
LEVELS = {"debug": "DEBG", "info": "INFO", "warning": "WARN", "error": "ERR ", "critical": "CRIT",
          "exception": "ERR "}
COLORS = {"debug": "\x1b[2m", "info": "\x1b[36m", "warning": "\x1b[33m", "error": "\x1b[31;1m",
          "critical": "\x1b[31;1m", "exception": "\x1b[31;1m"}
RESET, DIM, BOLD = "\x1b[0m", "\x1b[2m", "\x1b[1m"
#: Longest value shown (errors get more room).
MAX_VALUE, MAX_ERROR = 80, 160
_json = msgspec.json.Encoder()


def terminal_width() -> int:
    """The terminal's columns (``COLUMNS`` first), 120 when it cannot be told."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 40:
        return int(columns)
    return max(40, shutil.get_terminal_size((120, 24)).columns)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return _number(int(value))
    if abs(value) < 1000:
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.0f}"


def _seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds >= 0.001 else f"{seconds * 1000:.2f}ms"
    if seconds < 120:
        return f"{seconds:.3g}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def _moment(unix_ms: float, now_ms: float) -> str:
    delta = (unix_ms - now_ms) / 1000
    if abs(delta) < 3600:
        return f"in {_seconds(delta)}" if delta >= 0 else f"{_seconds(-delta)} ago"
    return datetime.fromtimestamp(unix_ms / 1000).strftime("%H:%M:%S")


def human_value(key: str, value: Any, now_ms: float | None = None) -> str:
    """``value`` as a person reads it, by what its key says it is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if key == "rate" or key.endswith("_rate"):  # per second
            return f"{_number(value)}/s"
        if key.endswith("_at") and value > 1e11:  # Unix ms
            return _moment(value, time.time() * 1000 if now_ms is None else now_ms)
        if key.endswith("_ms"):
            return _seconds(value / 1000)
        if key == "seconds" or key.endswith(("_seconds", "_s")):
            return _seconds(value)
        return _number(value)
    if isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        text = ",".join(value) or "-"
    else:
        try:
            text = _json.encode(value).decode()
        except (TypeError, ValueError):
            text = repr(value)
    text = text.replace("\n", "⏎ ")
    limit = MAX_ERROR if key == "error" else MAX_VALUE
    if text == "" or any(c in text for c in " ="):
        quote = "'" if '"' in text and "'" not in text else '"'
        text = quote + _cut(text, limit - 2) + quote
    return _cut(text, limit)


class ConsoleRenderer:
    """A structlog renderer (the last processor of the console chain)."""

    def __init__(self, colors: bool = False, width: int | None = None) -> None:
        self.colors = colors
        self.width = width

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.colors else text

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> str:
        width = self.width or terminal_width()
        level = str(event_dict.get("level", method_name)).lower()
        stamp = self._time(event_dict.get("timestamp"))
        message = str(event_dict.get("event", ""))
        head = f"{stamp} {LEVELS.get(level, level[:4].upper())} "
        first_line, _, more = message.partition("\n")
        line = head + _cut(first_line, max(10, width - len(head)))
        shown: list[str] = [line]
        used = len(line)
        # The fields that matter that do not fit go on up to two more lines, under the message.
        wrapped: list[list[str]] = []
        wrapped_used = 0
        seen: set[str] = set()
        left_out = False
        for key in self._keys(event_dict):
            value = event_dict[key]
            if value is None or key in HIDDEN or (isinstance(value, list | tuple | dict) and not value):
                continue
            text = human_value(key, value)
            if len(text) > 3 and text in seen:
                continue  # no repeated fields (an endpoint named by its URL)
            seen.add(text)
            part = f"{SHORT.get(key, key)}={text}"
            if not wrapped and used + 2 + len(part) <= width - 3:  # room for "  …"
                shown.append(part)
                used += 2 + len(part)
                continue
            if key not in PRIORITY:
                left_out = True
                continue
            if wrapped and wrapped_used + 2 + len(part) <= width - 3:
                wrapped[-1].append(part)
                wrapped_used += 2 + len(part)
            elif len(wrapped) < 2 and len(head) + len(part) <= width - 3:
                wrapped.append([part])
                wrapped_used = len(head) + len(part)
            else:
                left_out = True
        if left_out:
            (wrapped[-1] if wrapped else shown).append("…")
        text = self._colored(shown, level, len(head)) if self.colors else "  ".join(shown)
        for parts in wrapped:
            text += "\n" + " " * len(head) + "  ".join(self._key_dim(p) for p in parts)
        if more:
            text += "\n" + more
        exception = event_dict.get("exception")
        if exception:
            text += "\n" + str(exception).rstrip()
        return text

    def _key_dim(self, part: str) -> str:
        if not self.colors or "=" not in part:
            return part
        key, value = part.split("=", 1)
        return f"{self._paint(DIM, key)}={value}"

    def _colored(self, parts: list[str], level: str, head: int) -> str:
        first = parts[0]
        painted = (self._paint(DIM, first[:9]) + self._paint(COLORS.get(level, ""), first[9:head])
                   + self._paint(BOLD, first[head:]))
        return "  ".join([painted, *(self._key_dim(p) for p in parts[1:])])

    @staticmethod
    def _keys(event_dict: dict[str, Any]) -> list[str]:
        first = [k for k in PRIORITY if k in event_dict]
        return first + [k for k in event_dict if k not in PRIORITY]

    @staticmethod
    def _time(stamp: Any) -> str:
        if isinstance(stamp, str):
            try:
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
            except ValueError:
                pass
        return datetime.now().strftime("%H:%M:%S")
