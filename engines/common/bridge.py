"""The live source: a session that runs its engine's bridge process and translates its records.

The bridge (``engines/<engine>/bridge/index.js``, a Node.js program wrapping whatsapp-web.js or
Baileys) writes native event records as JSON lines on stdout, logs on stderr, and reads
commands as JSON lines on stdin (``{"cmd": "stop"}``, ``{"cmd": "logout"}``,
``{"cmd": "pairing-code", "phone": "..."}``). :class:`BridgeSession`:

- starts ``node <bridge_dir>/index.js --session NAME --auth-dir DIR`` in a process group of its
  own, reports readiness once it is up, and emits ``translator.start()`` (``STARTING``) once;
- translates each stdout line (bounded length: a longer line, like a garbage one, is a bad
  record, logged and counted by the translator) and emits the result in order;
- logs each stderr line through structlog (:mod:`engines.common.bridge_logs`);
- restarts the bridge when it exits, after an exponential backoff, with the same translator
  (state carries across restarts). Exit status 3 (the bridge needs a new login) and a stop
  asked through :meth:`send_command` end the session instead;
- on cancellation sends ``stop``, waits ``stop_timeout``, then SIGTERM, then SIGKILL to the group
  and to every process of the bridge's tree (:mod:`engines.common.bridge_reaper`), so no child
  outlives the session, whichever way it ends.

``STARTING`` is emitted once per session, not on every restart (WAHA sets it again 2 s after a
restart, from a timer; engine-mapping §7.7 and §12).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from subprocess import PIPE
from typing import Any

import anyio
import msgspec
import structlog
from anyio.abc import ByteReceiveStream, Process, TaskStatus

from core.config import SessionConfig
from core.engine import SessionContext
from core.logging import get_logger
from core.supervisor import Backoff
from engines.common import bridge_reaper as reaper
from engines.common.bridge_lines import LineSplitter, TooLong
from engines.common.bridge_logs import log_stderr_line
from engines.common.bridge_settings import BridgeSettings
from engines.common.translator import BaseTranslator

log = get_logger("engines.bridge")

#: Exit statuses of a bridge (``EXIT`` in engines/common/bridge_protocol.mjs).
EXIT_STOPPED = 0
EXIT_NEEDS_LOGIN = 3
EXIT_RECONNECT = 75

#: After the bridge exited, its output is read on while it keeps coming; this long without a
#: byte ends the reading (a grandchild may hold a pipe open after the bridge is gone).
DRAIN_IDLE_SECONDS = 1.0
#: How often a running bridge is checked for having exited.
EXIT_POLL_SECONDS = 0.1
#: SIGKILL cannot be ignored; this only bounds a wait on a process the kernel cannot reap.
KILL_WAIT_SECONDS = 5.0
#: How often the bridge's process tree is noted, to kill what it leaves behind.
TREE_WATCH_SECONDS = 2.0


class BridgeNotRunning(RuntimeError):
    """A command was sent while no bridge process runs."""


class BridgeSession:
    def __init__(
        self,
        config: SessionConfig,
        make_translator: Callable[[SessionConfig], BaseTranslator],
        bridge_dir: Path,
        *,
        command: list[str] | None = None,
        settings: BridgeSettings | None = None,
    ) -> None:
        """``command`` replaces ``[node, <bridge_dir>/index.js]`` (tests run a scripted fake
        bridge); the session arguments are appended to it either way."""
        self.config = config
        self.bridge_dir = Path(bridge_dir)
        self.command = list(command) if command is not None else None
        self.settings = settings or BridgeSettings.from_env()
        #: Settings from the environment take the kernel's data dir unless it is set there.
        self._data_dir_from_kernel = settings is None and "HOOKWIRE_DATA_DIR" not in os.environ
        self.translator = make_translator(config)
        self.backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max,
                               self.settings.backoff_reset)
        self.runs = 0
        self.restarts = 0
        self.pids: list[int] = []
        self.exit_codes: list[int] = []
        self._starting_emitted = False
        self._stop_requested = False
        self._process: Process | None = None
        self._stdin_lock = anyio.Lock()
        self._bridge_exited = False
        self._changed = anyio.Event()  # set (and replaced) when runs or exit_codes change

    @property
    def auth_dir(self) -> Path:
        return self.settings.auth_dir(self.config.name)

    @property
    def pid(self) -> int | None:
        """The running bridge's pid, if one runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def wait_until(self, predicate: Callable[[BridgeSession], bool]) -> None:
        """Wait until ``predicate(self)`` holds; it is checked whenever a bridge starts or
        exits (for supervisors and tests: bound the wait with a timeout)."""
        while not predicate(self):
            await self._changed.wait()

    def _note_change(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def bridge_command(self) -> list[str]:
        base = self.command or [self.settings.node, str(self.bridge_dir / "index.js")]
        args = [*base, "--session", self.config.name, "--auth-dir", str(self.auth_dir)]
        if self.settings.log_level:
            args += ["--log-level", self.settings.log_level]
        if self.settings.qr_terminal:
            args.append("--qr-terminal")
        return args

    async def send_command(self, cmd: dict[str, Any]) -> None:
        """Write one command to the running bridge; :class:`BridgeNotRunning` if none runs.
        After ``{"cmd": "stop"}`` the session ends when the bridge exits (no restart)."""
        if not isinstance(cmd.get("cmd"), str):
            raise ValueError(f"a bridge command needs a string 'cmd', got {cmd!r}")
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            raise BridgeNotRunning(f"session {self.config.name!r}: no bridge is running")
        if cmd["cmd"] == "stop":
            self._stop_requested = True
        line = msgspec.json.encode(cmd) + b"\n"
        async with self._stdin_lock:
            try:
                await process.stdin.send(line)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                raise BridgeNotRunning(f"session {self.config.name!r}: the bridge is gone") from None

    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        data_dir = getattr(ctx, "data_dir", None)
        if data_dir is not None and self._data_dir_from_kernel:
            # The kernel's data directory (config ``[kernel] data_dir``) holds the auth state.
            self.settings = msgspec.structs.replace(self.settings, data_dir=str(data_dir))
        ready = False

        def report_ready() -> None:
            nonlocal ready
            if not ready:
                ready = True
                task_status.started()

        with structlog.contextvars.bound_contextvars(session=self.config.name,
                                                     engine=self.config.engine):
            while True:
                began = anyio.current_time()
                code = await self._run_bridge(ctx, report_ready)
                report_ready()  # readiness never waits for a bridge that cannot start
                if self._stop_requested:
                    log.info("bridge stopped on request; session ended", exit_status=code)
                    return
                if code == EXIT_NEEDS_LOGIN:
                    log.error("the session needs a new login (QR code or pairing code); "
                              "the bridge is not restarted", exit_status=code)
                    return
                delay = self.backoff.next_delay(anyio.current_time() - began)
                self.restarts += 1
                self._log_exit(code, delay)
                await anyio.sleep(delay)

    def _log_exit(self, code: int | None, delay: float) -> None:
        fields = {"exit_status": code, "restarts": self.restarts, "restart_in_s": delay}
        if code is None:
            log.info("retrying to start the bridge", **fields)  # the error was logged already
        elif code == EXIT_RECONNECT:
            log.info("bridge disconnected; restarting", **fields)
        elif code == EXIT_STOPPED:
            log.warning("bridge exited without being asked; restarting", **fields)
        elif code < 0:
            log.error("bridge killed by a signal; restarting",
                      signal=signal.Signals(-code).name if -code in signal.valid_signals() else -code,
                      **fields)
        else:
            log.error("bridge failed; restarting", **fields)

    async def _run_bridge(self, ctx: SessionContext, report_ready: Callable[[], None]) -> int | None:
        """Start one bridge process and pump it until it exits; its exit status, or None
        when it could not be started."""
        if self.command is None and not (self.bridge_dir / "node_modules").is_dir():
            log.error("the bridge is not installed: run `python -m core engines install`",
                      bridge_dir=str(self.bridge_dir))
            return None
        command = self.bridge_command()
        try:
            self.auth_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            process = await anyio.open_process(
                command, stdin=PIPE, stdout=PIPE, stderr=PIPE, start_new_session=True,
                cwd=self.bridge_dir if self.bridge_dir.is_dir() else None)
        except OSError as exc:
            hint = "set HOOKWIRE_NODE to the Node.js executable" if self.command is None else None
            log.error("cannot start the bridge", command=command[0], hint=hint,
                      error=f"{type(exc).__name__}: {exc}")
            return None
        self.runs += 1
        self.pids.append(process.pid)
        self._process = process
        self._note_change()
        tree: set[reaper.ProcessId] = set()
        log.info("bridge started", bridge_pid=process.pid, run=self.runs,
                 auth_dir=str(self.auth_dir))
        try:
            report_ready()
            if not self._starting_emitted:
                self._starting_emitted = True
                for emission in self.translator.start():
                    await ctx.emit(emission, self.translator.me)
            await self._pump(process, ctx, tree)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop(process, tree)
                self._process = None
        return process.returncode

    async def _pump(self, process: Process, ctx: SessionContext,
                    tree: set[reaper.ProcessId]) -> None:
        assert process.stdout is not None and process.stderr is not None
        run = self.runs
        number = 0
        max_line = self.settings.max_line_bytes

        async def on_record(line: bytes | TooLong) -> None:
            nonlocal number
            number += 1
            position = f"bridge run {run} line {number}"
            if isinstance(line, TooLong):
                self.translator.bad(position, None, f"line of {line.size} bytes is longer than "
                                                    f"the limit of {max_line} bytes")
            elif line.strip():
                for emission in self.translator.translate_line(line, position):
                    await ctx.emit(emission, self.translator.me)

        async def on_stderr(line: bytes | TooLong) -> None:
            if isinstance(line, TooLong):
                log_stderr_line(line.head, process.pid, truncated=True)
            else:
                log_stderr_line(line, process.pid)

        async def watch_tree() -> None:
            while True:
                tree.update(reaper.process_tree(process.pid))
                await anyio.sleep(TREE_WATCH_SECONDS)

        waits: set[anyio.CancelScope] = set()
        exited = anyio.Event()

        async def watch_exit() -> None:
            # Polled, not awaited: asyncio's wait() also waits for the pipes to close, which a
            # grandchild holding them open would delay for ever.
            while process.returncode is None:
                await anyio.sleep(EXIT_POLL_SECONDS)
            self._bridge_exited = True
            for wait in list(waits):  # output still in the pipes is read on, a wait is bounded
                wait.deadline = min(wait.deadline, anyio.current_time() + DRAIN_IDLE_SECONDS)
            exited.set()

        self._bridge_exited = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_tree)
            tg.start_soon(watch_exit)
            async with anyio.create_task_group() as readers:
                readers.start_soon(self._read_lines, process.stdout, max_line, waits, on_record)
                readers.start_soon(self._read_lines, process.stderr,
                                   self.settings.max_log_line_bytes, waits, on_stderr)
            await exited.wait()  # a bridge may close its output and run on
            tg.cancel_scope.cancel()

    async def _read_lines(self, stream: ByteReceiveStream, max_bytes: int,
                          waits: set[anyio.CancelScope],
                          handle: Callable[[bytes | TooLong], Awaitable[None]]) -> None:
        """Read ``stream`` to its end, line by line. A wait for data is registered in
        ``waits`` so that, once the bridge has exited, it can be bounded (see ``_pump``)."""
        splitter = LineSplitter(max_bytes)
        while True:
            chunk: bytes | None = None
            with anyio.CancelScope() as wait:
                if self._bridge_exited:
                    wait.deadline = anyio.current_time() + DRAIN_IDLE_SECONDS
                waits.add(wait)
                try:
                    chunk = await stream.receive(1 << 16)
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass
                finally:
                    waits.discard(wait)
            if chunk is None:  # end of stream, or nothing for a while after the bridge exited
                break
            for line in splitter.feed(chunk):
                await handle(line)
        for line in splitter.close():
            await handle(line)

    async def _stop(self, process: Process, tree: set[reaper.ProcessId]) -> None:
        """Stop ``process`` (shielded by the caller): ask, then SIGTERM, then SIGKILL; then kill
        whatever of its tree is still alive, and close its pipes."""
        if process.returncode is None:
            tree.update(reaper.process_tree(process.pid))
            await self._ask_to_stop(process)
            await _wait_exit(process, self.settings.stop_timeout)
        if process.returncode is None:
            tree.update(reaper.process_tree(process.pid))
            log.warning("bridge did not stop in time; terminating it", bridge_pid=process.pid,
                        stop_timeout_s=self.settings.stop_timeout)
            reaper.signal_all(process.pid, tree, reaper.TERM)
            await _wait_exit(process, self.settings.kill_timeout)
        if process.returncode is None:
            tree.update(reaper.process_tree(process.pid))
            log.warning("bridge did not terminate; killing it", bridge_pid=process.pid)
            reaper.signal_all(process.pid, tree, reaper.KILL)
            await _wait_exit(process, KILL_WAIT_SECONDS)
        leftovers = reaper.alive(tree) | reaper.processes_mentioning(str(self.auth_dir))
        if leftovers:
            log.warning("killing processes the bridge left behind", bridge_pid=process.pid,
                        pids=sorted(p.pid for p in leftovers))
            reaper.signal_all(None, leftovers, reaper.KILL)
        await process.aclose()
        self.exit_codes.append(process.returncode if process.returncode is not None else -9)
        self._note_change()
        log.info("bridge exited", bridge_pid=process.pid, exit_status=process.returncode)

    async def _ask_to_stop(self, process: Process) -> None:
        if process.stdin is None:
            return
        async with self._stdin_lock:
            try:
                with anyio.move_on_after(1):
                    await process.stdin.send(b'{"cmd":"stop"}\n')
                await process.stdin.aclose()  # end of stdin also means stop
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass


async def _wait_exit(process: Process, timeout: float) -> None:
    """Wait up to ``timeout`` for ``process`` to exit (polled, see ``_pump``)."""
    with anyio.move_on_after(timeout):
        while process.returncode is None:
            await anyio.sleep(EXIT_POLL_SECONDS)
