"""The replay source: a session that reads a JSONL recording of native records.

Its position survives a crash of ``run`` (the kernel re-runs the same object), so a restart
resumes after the last record handled instead of emitting the recording twice.
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
from core.engine import SessionContext
from core.logging import get_logger
from engines.common.ignore import IgnoreFilter
from engines.common.translator import BaseTranslator

log = get_logger("engines.replay")


class _Timestamp(msgspec.Struct):
    ts: int | float | None = None


_ts_decoder = msgspec.json.Decoder(_Timestamp)


def record_ts(line: bytes) -> float | None:
    try:
        return _ts_decoder.decode(line).ts
    except msgspec.MsgspecError:
        return None


class ReplaySession:
    def __init__(self, config: SessionConfig,
                 make_translator: Callable[[SessionConfig], BaseTranslator]) -> None:
        if not config.replay:
            raise ValueError(f"session {config.name!r} has no replay file")
        self.config = config
        self.path = Path(config.replay)
        self.translator = make_translator(config)
        self.ignore = IgnoreFilter(config.ignore)  # events of ignored chats are not emitted
        self.lines_done = 0
        self.started = False

    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        translator = self.translator
        with self.path.open("rb") as source:  # local file: chunked blocking reads are cheap
            task_status.started()
            if not self.started:
                self.started = True
                for emission in translator.start():
                    await ctx.emit(emission, translator.me)
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
                if line.strip():
                    for emission in translator.translate_line(line, f"{self.path.name}:{number}"):
                        if not self.ignore.drops(emission):
                            await ctx.emit(emission, translator.me)
                self.lines_done = number
                if number % 256 == 0:
                    await anyio.lowlevel.checkpoint()  # let the rest of the process run
        log.info("replay finished", file=str(self.path), lines=self.lines_done,
                 bad_records=translator.bad_records)


def _lines(source: BinaryIO, chunk_size: int = 1 << 18) -> Iterator[bytes]:
    """Lines of a binary file, read in chunks (memory stays bounded by the longest line)."""
    rest = b""
    while chunk := source.read(chunk_size):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest
