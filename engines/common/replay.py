"""The replay source: a session that reads a JSONL recording of native records.

Its position survives a crash of ``run`` (the kernel re-runs the same object): a restart goes
on with the events of the line in hand, then after the last line read, instead of emitting
the recording twice. Its envelope ids are those of its run (:mod:`engines.common.replay_runs`),
so a replay restarted in a new process (after a ``kill -9``) sends each event under the id it
had; the events of the lines the run had read are first looked up in the store and only the
missing ones are sent.

For its supervisor (:class:`core.supervisor.Resumable`) the progress is (line, event of the
line); what it keeps crashing on is skipped: the event being emitted, or the line being
translated. Given up, it emits ``session.status`` ``FAILED``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.lowlevel
import msgspec
from anyio.abc import TaskStatus

from core.config import SessionConfig
from core.engine import Emission, SessionContext
from core.logging import get_logger
from engines.common.ignore import IgnoreFilter
from engines.common.replay_runs import ReplayRun
from engines.common.translator import BaseTranslator

log = get_logger("engines.replay")

#: Events of a resumed run looked up in the store at once.
STORE_CHECK_BATCH = 512


class _Timestamp(msgspec.Struct):
    ts: int | float | None = None


_ts_decoder = msgspec.json.Decoder(_Timestamp)


def record_ts(line: bytes) -> float | None:
    try:
        return _ts_decoder.decode(line).ts
    except (msgspec.MsgspecError, RecursionError):
        return None


class _Line:
    """The events of one line, with their ids, and how many of them are out."""

    __slots__ = ("number", "emissions", "ids", "next")

    def __init__(self, number: int, emissions: list[Emission], ids: list[str]) -> None:
        self.number = number
        self.emissions = emissions
        self.ids = ids
        self.next = 0


class ReplaySession:
    def __init__(self, config: SessionConfig,
                 make_translator: Callable[[SessionConfig], BaseTranslator]) -> None:
        if not config.replay:
            raise ValueError(f"session {config.name!r} has no replay file")
        self.config = config
        self.path = Path(config.replay)
        self.translator = make_translator(config)
        self.ignore = IgnoreFilter(config.ignore)  # events of ignored chats are not emitted
        #: Lines translated (their events are out, or in hand below).
        self.lines_done = 0
        self.started = False
        #: Set once the whole file was read and every event of it is out.
        self.eof = False
        self.run_record: ReplayRun | None = None
        #: Events skipped by the supervisor, and events a resumed run found in the store.
        self.skipped = 0
        self.already_stored = 0
        self._current: _Line | None = None
        self._checking: deque[_Line] = deque()  # lines of a resumed run, to check in the store
        self._checking_ids = 0
        self._translating: int | None = None
        self._resume_until = 0

    # -- supervision (core.supervisor.Resumable) --------------------------------------------

    def progress(self) -> tuple[int, int, int, int]:
        current = self._current
        return (self.lines_done, current.number if current else -1, current.next if current else 0,
                len(self._checking))

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

    def close_run(self, *, stopped: bool) -> None:
        """From the kernel: everything emitted is stored, or the session was stopped on
        request. A run that read its whole file, or was stopped, is finished."""
        run = self.run_record
        if run is None:
            return
        run.progress(self.lines_done)
        if stopped or self.eof:
            run.finish()
        else:
            run.save()

    # -- the source -------------------------------------------------------------------------

    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        translator = self.translator
        with self.path.open("rb") as source:  # local file: chunked blocking reads are cheap
            task_status.started()
            if self.run_record is None:
                self.run_record = ReplayRun.open(getattr(ctx, "data_dir", None), self.config, self.path)
                if self.run_record.resumed:
                    self._resume_until = self.run_record.record.lines_read
            run = self.run_record
            await self._flush(ctx, everything=True)  # what a crash left in hand
            if not self.started:
                self.started = True
                await self._handle(ctx, 0, translator.start())
            log.info("replay started", file=str(self.path), pace=self.config.pace,
                     resume_at_line=self.lines_done + 1, run_id=run.record.run_id,
                     continued_run=run.resumed)
            first_ts: float | None = None
            began = anyio.current_time()
            number = 0
            for line in _lines(source):
                number += 1
                if number <= self.lines_done:
                    continue
                if self.config.pace == "recorded" and number > self._resume_until:
                    ts = record_ts(line)
                    if ts is not None:
                        if first_ts is None:  # paced from here (a resumed run: after catching up)
                            first_ts, began = ts, anyio.current_time()
                        wait = (ts - first_ts) / 1000 - (anyio.current_time() - began)
                        if wait > 0:
                            await anyio.sleep(wait)
                emissions: list[Emission] = []
                if line.strip():
                    self._translating = number
                    emissions = [emission for emission in
                                 translator.translate_line(line, f"{self.path.name}:{number}")
                                 if not self.ignore.drops(emission)]
                    self._translating = None
                self.lines_done = number
                await self._handle(ctx, number, emissions)
                run.progress(number)
                if number % 256 == 0:
                    await anyio.lowlevel.checkpoint()  # let the rest of the process run
            await self._flush(ctx, everything=True)
        self.eof = True
        run.progress(self.lines_done)
        log.info("replay finished", file=str(self.path), lines=self.lines_done,
                 bad_records=translator.bad_records, skipped=self.skipped,
                 already_stored=self.already_stored)

    async def _handle(self, ctx: SessionContext, number: int, emissions: list[Emission]) -> None:
        """Give the events of line ``number`` their ids and send them; those of a line a
        resumed run had read wait to be checked against the store first."""
        run = self.run_record
        assert run is not None
        ranks: Counter[str] = Counter()
        ids = []
        for emission in emissions:
            ids.append(run.event_id(number, emission, ranks[emission.name]))
            ranks[emission.name] += 1
        line = _Line(number, emissions, ids)
        if run.resumed and number <= self._resume_until:
            self._checking.append(line)
            self._checking_ids += len(ids)
            if self._checking_ids >= STORE_CHECK_BATCH:
                await self._flush(ctx)
            return
        await self._flush(ctx, everything=True)
        self._current = line
        await self._send_current(ctx)

    async def _flush(self, ctx: SessionContext, *, everything: bool = False) -> None:
        """Send the event in hand, then the lines waiting for the store check (``everything``:
        all of them; else while a batch is full)."""
        await self._send_current(ctx)
        while self._checking and (everything or self._checking_ids >= STORE_CHECK_BATCH):
            stored = await self._stored(ctx, [i for line in self._checking for i in line.ids])
            while self._checking:
                line = self._checking.popleft()
                self._checking_ids -= len(line.ids)
                if stored:
                    kept = [(e, i) for e, i in zip(line.emissions, line.ids, strict=True) if i not in stored]
                    self.already_stored += len(line.ids) - len(kept)
                    line = _Line(line.number, [e for e, _ in kept], [i for _, i in kept])
                self._current = line
                await self._send_current(ctx)

    async def _send_current(self, ctx: SessionContext) -> None:
        current = self._current
        if current is None:
            return
        me = self.translator.me
        while current.next < len(current.emissions):
            await ctx.emit(current.emissions[current.next], me, event_id=current.ids[current.next])
            current.next += 1
        self._current = None

    async def _stored(self, ctx: SessionContext, ids: list[str]) -> set[str]:
        ask: Any = getattr(ctx, "events_stored", None)
        if ask is None or not ids:
            return set()
        try:
            found = await ask(ids)
        except Exception as exc:  # the store will ignore what it has: send them all
            log.warning("cannot check the store for events of a resumed replay; sending them "
                        "again, under their ids", error=f"{type(exc).__name__}: {exc}")
            return set()
        return found or set()


def _lines(source: BinaryIO, chunk_size: int = 1 << 18) -> Iterator[bytes]:
    """Lines of a binary file, read in chunks (memory stays bounded by the longest line)."""
    rest = b""
    while chunk := source.read(chunk_size):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest
