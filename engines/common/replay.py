"""The replay source: a session that reads a JSONL recording of native records.

Its position survives a crash of ``run`` (the kernel re-runs the same object): a restart goes
on with the events of the line in hand, then after the last line read, instead of emitting
the recording twice.

For its supervisor (:class:`core.supervisor.Resumable`) the progress is (line, event of the
line); what it keeps crashing on is skipped: the event being emitted, or the line being
translated. Given up, it emits ``session.status`` ``FAILED``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.lowlevel
import msgspec
from anyio.abc import TaskStatus

from core.config import SessionConfig
from core.engine import Emission, SessionContext
from core.logging import get_logger
from engines.common.translator import BaseTranslator

log = get_logger("engines.replay")

class _Timestamp(msgspec.Struct):
    ts: int | float | None = None


_ts_decoder = msgspec.json.Decoder(_Timestamp)


def record_ts(line: bytes) -> float | None:
    try:
        return _ts_decoder.decode(line).ts
    except (msgspec.MsgspecError, RecursionError):
        return None


class _Line:
    """The events of one line, and how many of them are out."""

    __slots__ = ("number", "emissions", "next")

    def __init__(self, number: int, emissions: list[Emission]) -> None:
        self.number = number
        self.emissions = emissions
        self.next = 0


class ReplaySession:
    def __init__(self, config: SessionConfig,
                 make_translator: Callable[[SessionConfig], BaseTranslator]) -> None:
        if not config.replay:
            raise ValueError(f"session {config.name!r} has no replay file")
        self.config = config
        self.path = Path(config.replay)
        self.translator = make_translator(config)
        #: Lines translated (their events are out, or in hand below).
        self.lines_done = 0
        self.started = False
        #: Events or lines skipped by the supervisor.
        self.skipped = 0
        self._current: _Line | None = None
        self._translating: int | None = None

    # -- supervision (core.supervisor.Resumable) --------------------------------------------

    def progress(self) -> tuple[int, int, int]:
        current = self._current
        return (self.lines_done, current.number if current else -1, current.next if current else 0)

    def skip_stuck(self) -> str | None:
        current = self._current
        if current is not None and current.next < len(current.emissions):
            emission = current.emissions[current.next]
            current.next += 1
            self.skipped += 1
            return f"{self.path.name}:{current.number} event {current.next} ({emission.name})"
        if self._translating is not None:
            number, self._translating = self._translating, None
            self.lines_done = number
            self.skipped += 1
            return f"{self.path.name}:{number}"
        return None

    async def report_failure(self, ctx: SessionContext, error: str) -> None:
        failed = getattr(self.translator, "failed", None)
        for emission in failed() if failed is not None else []:
            await ctx.emit(emission, self.translator.me)

    # -- the source -------------------------------------------------------------------------

    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        translator = self.translator
        with self.path.open("rb") as source:  # local file: chunked blocking reads are cheap
            task_status.started()
            await self._send_current(ctx)  # what a crash left in hand
            if not self.started:
                self.started = True
                await self._handle(ctx, 0, translator.start())
            log.info("replay started", file=str(self.path), pace=self.config.pace,
                     resume_at_line=self.lines_done + 1)
            first_ts: float | None = None
            began = anyio.current_time()
            number = 0
            for line in _lines(source):
                number += 1
                if number <= self.lines_done:
                    continue
                if self.config.pace == "recorded":
                    ts = record_ts(line)
                    if ts is not None:
                        first_ts = ts if first_ts is None else first_ts
                        wait = (ts - first_ts) / 1000 - (anyio.current_time() - began)
                        if wait > 0:
                            await anyio.sleep(wait)
                emissions: list[Emission] = []
                if line.strip():
                    self._translating = number
                    emissions = translator.translate_line(line, f"{self.path.name}:{number}")
                    self._translating = None
                self.lines_done = number
                await self._handle(ctx, number, emissions)
                if number % 256 == 0:
                    await anyio.lowlevel.checkpoint()  # let the rest of the process run
        log.info("replay finished", file=str(self.path), lines=self.lines_done,
                 bad_records=translator.bad_records, skipped=self.skipped)

    async def _handle(self, ctx: SessionContext, number: int, emissions: list[Emission]) -> None:
        self._current = _Line(number, emissions)
        await self._send_current(ctx)

    async def _send_current(self, ctx: SessionContext) -> None:
        current = self._current
        if current is None:
            return
        me = self.translator.me
        while current.next < len(current.emissions):
            await ctx.emit(current.emissions[current.next], me)
            current.next += 1
        self._current = None


def _lines(source: BinaryIO, chunk_size: int = 1 << 18) -> Iterator[bytes]:
    """Lines of a binary file, read in chunks (memory stays bounded by the longest line)."""
    rest = b""
    while chunk := source.read(chunk_size):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest
