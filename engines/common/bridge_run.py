"""One run of a bridge process: its output pumped until it exits, or goes silent too long.

:class:`BridgeRun` reads the bridge's stdout (records: native ones are translated and emitted
in order, protocol ones, ``hookwire.*``, go to the session: answers, heartbeats, the account)
and its stderr (logged; the last warning or error is the run's reason), notes the process tree
(to kill what it leaves behind) and, with heartbeats on, restarts a bridge that wrote nothing
for ``stall_seconds``. It works on its :class:`engines.common.bridge.BridgeSession`'s state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Process

from core.engine import SessionContext
from core.logging import get_logger
from engines.common import bridge_reaper as reaper
from engines.common.bridge_commands import (
    HEARTBEAT,
    ME,
    RESULT,
    BadProtocolRecord,
    HeartbeatData,
    MeData,
    ResultData,
    decode_protocol_record,
)
from engines.common.bridge_lines import TooLong
from engines.common.bridge_logs import log_stderr_line
from engines.common.bridge_process import EXIT_POLL_SECONDS, OutputReader

if TYPE_CHECKING:
    from engines.common.bridge import BridgeSession

log = get_logger("engines.bridge")

#: How often the bridge's process tree is noted, to kill what it leaves behind.
TREE_WATCH_SECONDS = 2.0
WORKING = "WORKING"


class BridgeRun:
    def __init__(self, session: BridgeSession, process: Process, ctx: SessionContext,
                 tree: set[reaper.ProcessId]) -> None:
        self.session = session
        self.process = process
        self.ctx = ctx
        self.tree = tree
        self.run = session.runs
        self.lines = 0
        self.reader = OutputReader()

    async def pump(self) -> None:
        """Until the bridge exits (or is found silent: then it returns, and the caller stops
        the process)."""
        process, settings = self.process, self.session.settings
        assert process.stdout is not None and process.stderr is not None
        exited = anyio.Event()

        async def watch_exit() -> None:
            while process.returncode is None:
                await anyio.sleep(EXIT_POLL_SECONDS)
            self.reader.bridge_exited()
            exited.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_tree)
            tg.start_soon(watch_exit)
            if settings.watchdog_on:
                tg.start_soon(self._watch_silence, tg.cancel_scope)
            async with anyio.create_task_group() as readers:
                readers.start_soon(self.reader.read_lines, process.stdout, settings.max_line_bytes,
                                   self._on_record)
                readers.start_soon(self.reader.read_lines, process.stderr,
                                   settings.max_log_line_bytes, self._on_stderr)
            await exited.wait()  # a bridge may close its output and run on
            tg.cancel_scope.cancel()

    async def _on_record(self, line: bytes | TooLong) -> None:
        session = self.session
        translator = session.translator
        self.lines += 1
        session._health.activity()
        position = f"bridge run {self.run} line {self.lines}"
        if isinstance(line, TooLong):
            translator.bad(position, None, f"line of {line.size} bytes is longer than the limit "
                                           f"of {session.settings.max_line_bytes} bytes")
            return
        if not line.strip():
            return
        try:
            protocol = decode_protocol_record(line)
        except BadProtocolRecord as exc:
            translator.bad(position, exc.record_type, exc.reason)
            return
        if protocol is not None:
            self._on_protocol_record(*protocol)
            return
        await session._emit_all(self.ctx, translator.translate_line(line, position))

    async def _on_stderr(self, line: bytes | TooLong) -> None:
        if isinstance(line, TooLong):
            problem = log_stderr_line(line.head, self.process.pid, truncated=True)
        else:
            problem = log_stderr_line(line, self.process.pid)
        if problem is not None:
            self.session._run_error = problem

    def _on_protocol_record(self, kind: str, data: Any) -> None:
        session = self.session
        if kind == RESULT:
            assert isinstance(data, ResultData)
            for message_id in data.sent:  # before the records of the send are translated
                session.translator.note_sent(message_id)
            session.commands.answer(data)
        elif kind == HEARTBEAT:
            assert isinstance(data, HeartbeatData)
            session.bridge_status = data.status
            session.heartbeats += 1
            if data.status == WORKING:
                session._connected()
        elif kind == ME:
            assert isinstance(data, MeData)
            translator = session.translator
            translator.me_id = data.id
            if data.pushName:
                translator.me_push_name = data.pushName
            if data.lid:
                translator.me_lid = data.lid
        session._note_change()

    async def _watch_tree(self) -> None:
        while True:
            self.tree.update(reaper.process_tree(self.process.pid))
            await anyio.sleep(TREE_WATCH_SECONDS)

    async def _watch_silence(self, scope: anyio.CancelScope) -> None:
        """End the run of a bridge that wrote nothing, not even a heartbeat, for
        ``stall_seconds``; the session restarts it and counts the stall."""
        session = self.session
        limit = session.settings.stall_seconds
        while True:
            await anyio.sleep(min(limit / 4, 1.0))
            silent = session._health.silent_for()
            if silent <= limit:
                continue
            session._stalled = True
            session._health.stalls += 1
            session._run_error = (f"the bridge wrote nothing for {silent:.1f} s (the stall limit "
                                  f"is {limit:g} s) while the session was "
                                  f"{session.status or 'STARTING'}")
            log.warning("bridge went silent; restarting it", silent_s=round(silent, 1),
                        stall_seconds=limit, status=session.status,
                        bridge_status=session.bridge_status, stalls=session._health.stalls)
            scope.cancel()
            return
