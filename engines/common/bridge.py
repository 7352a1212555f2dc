"""The live source: a session that runs its engine's bridge process and translates its records.

The bridge (``engines/<engine>/bridge/index.js``, a Node.js program wrapping whatsapp-web.js or
Baileys) writes native event records and protocol records (``hookwire.*``: command results,
heartbeats, its account) as JSON lines on stdout, logs on stderr, and reads commands as JSON
lines on stdin (the protocol: ``engines/common/bridge_protocol.mjs``). :class:`BridgeSession`:

- starts ``node <bridge_dir>/index.js --session NAME --auth-dir DIR ...`` (flags from the
  session's config: :mod:`engines.common.bridge_args`) in a process group of its own, reports
  readiness once it is up, and emits ``translator.start()`` (``STARTING``) once;
- translates each native record line (bounded length: a longer line, like a garbage one, is a
  bad record, logged and counted by the translator) and emits the result in order, less the
  events of ignored chats (:mod:`engines.common.ignore`);
- takes commands (:meth:`request`, :class:`core.engine.CommandTarget`): ids, a timeout, a
  bounded number in flight, ``not_working`` unless the session is ``WORKING`` (but
  ``pairing-code``, ``logout`` and ``stop``), ``gone`` when the bridge exits meanwhile;
- logs each stderr line through structlog (:mod:`engines.common.bridge_logs`), keeping the
  last warning or error as the session's ``last_error``;
- restarts the bridge when it exits, after an exponential backoff, with the same translator
  (state carries across restarts), logging a warning per restart. A run that never reached
  ``WORKING`` is a failed attempt: ``fail_after`` of them within ``fail_window`` seconds, or an
  exit with status 3 (the library gave up: a new login is needed), take the session to
  ``FAILED`` (``session.status`` through the translator's status history, an error log) and
  end it, as WAHA does. A ``stop`` or ``logout`` asked for ends the session too;
- watches for silence: with heartbeats on, a bridge that wrote nothing for ``stall_seconds``
  is restarted and the stall counted (:meth:`health`);
- on cancellation sends ``stop``, waits ``stop_timeout``, then SIGTERM, then SIGKILL to the group
  and to every process of the bridge's tree (:mod:`engines.common.bridge_process`), so no child
  outlives the session, whichever way it ends.

``STARTING`` is emitted once per session, not on every restart (WAHA sets it again 2 s after a
restart, from a timer; engine-mapping §7.7 and §12).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from subprocess import PIPE
from typing import Any

import anyio
import msgspec
import structlog
from anyio.abc import Process, TaskStatus

from core.config import SessionConfig
from core.engine import CommandError, Emission, SessionContext, SessionHealth
from core.logging import get_logger
from core.supervisor import Backoff
from engines.common import bridge_reaper as reaper
from engines.common.bridge_args import bridge_environment, session_arguments
from engines.common.bridge_commands import CommandChannel
from engines.common.bridge_health import BridgeHealth
from engines.common.bridge_process import stop_process
from engines.common.bridge_run import BridgeRun
from engines.common.bridge_settings import BridgeSettings
from engines.common.ignore import IgnoreFilter
from engines.common.terminal_qr import TerminalQr
from engines.common.translator import BaseTranslator

log = get_logger("engines.bridge")

#: Exit statuses of a bridge (``EXIT`` in engines/common/bridge_protocol.mjs).
EXIT_STOPPED = 0
EXIT_NEEDS_LOGIN = 3
EXIT_RECONNECT = 75

#: Commands a session takes before it is WORKING (logging in, and ending it).
BEFORE_LOGIN_COMMANDS = frozenset({"pairing-code", "logout", "stop"})
#: Commands that end the session once the bridge carried them out.
ENDING_COMMANDS = frozenset({"stop", "logout"})
WORKING = "WORKING"
FAILED = "FAILED"


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
        self.ignore = IgnoreFilter(config.ignore)
        #: Each new QR code drawn on the terminal (``HOOKWIRE_QR_TERMINAL``), by Python.
        self.terminal_qr = TerminalQr(config.name, self.settings.qr_terminal)
        self.backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max,
                               self.settings.backoff_reset)
        self.commands = CommandChannel(config.name, self.settings.max_in_flight, self._note_change)
        self._health = BridgeHealth(self.settings.fail_after, self.settings.fail_window)
        self.runs = 0
        self.pids: list[int] = []
        self.exit_codes: list[int] = []
        #: The bridge's own view of its session, from its last heartbeat.
        self.bridge_status: str | None = None
        self.heartbeats = 0
        self._starting_emitted = False
        self._ending: str | None = None  # "stop" or "logout": asked for, the session ends
        self._process: Process | None = None
        self._stdin_lock = anyio.Lock()
        self._run_connected = False  # this run reached WORKING
        self._run_error: str | None = None  # the last failure reported during this run
        self._stalled = False
        self._changed = anyio.Event()  # set (and replaced) when runs or exit_codes change

    # -- what others see ----------------------------------------------------------------------

    @property
    def restarts(self) -> int:
        return self._health.restarts

    @property
    def stalls(self) -> int:
        return self._health.stalls

    @property
    def status(self) -> str | None:
        """The session status, as its ``session.status`` events tell it."""
        return self.translator.status.status

    def health(self) -> SessionHealth:
        """:class:`core.engine.HealthReporter`."""
        return self._health.snapshot()

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
        exits, a heartbeat or an answer arrives (bound the wait with a timeout)."""
        while not predicate(self):
            await self._changed.wait()

    def _note_change(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def bridge_command(self) -> list[str]:
        base = self.command or [self.settings.node, str(self.bridge_dir / "index.js")]
        return [*base, *session_arguments(self.config, self.settings, self.auth_dir)]

    # -- commands -----------------------------------------------------------------------------

    async def request(self, command: str, args: dict[str, Any], *,
                      timeout: float | None = None) -> Any:
        """:class:`core.engine.CommandTarget`: send ``command`` to the bridge, return the
        library's result or raise :class:`core.engine.CommandError`."""
        timeout = self.settings.command_timeout if timeout is None else timeout
        if not 0 < timeout <= 3600:
            raise CommandError("invalid", f"timeout must be more than 0 and at most 3600 s, "
                                          f"got {timeout!r}")
        name = self.config.name
        if command not in BEFORE_LOGIN_COMMANDS and self.status != WORKING:
            raise CommandError("not_working", f"session {name!r} is {self.status or 'STOPPED'}, "
                                              f"not {WORKING}: {command!r} needs a working session")
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            state = FAILED if self._health.failed else "restarting or stopped"
            raise CommandError("not_working", f"session {name!r}: no bridge is running ({state})")
        stdin = process.stdin

        async def write(line: bytes) -> None:
            async with self._stdin_lock:
                try:
                    await stdin.send(line)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    raise CommandError("gone", f"session {name!r}: the bridge is gone") from None

        if command in ENDING_COMMANDS:
            self._ending = command
        try:
            return await self.commands.call(write, command, args, timeout)
        except CommandError as exc:
            if command in ENDING_COMMANDS and exc.code != "gone" and self._ending == command:
                self._ending = None  # refused (a logout WhatsApp Web could not do): carry on
            raise

    async def send_command(self, cmd: dict[str, Any]) -> None:
        """Write one command without waiting for an answer (the older, id-less form);
        :class:`BridgeNotRunning` if no bridge runs. After ``{"cmd": "stop"}`` or
        ``{"cmd": "logout"}`` the session ends when the bridge exits (no restart)."""
        if not isinstance(cmd.get("cmd"), str):
            raise ValueError(f"a bridge command needs a string 'cmd', got {cmd!r}")
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            raise BridgeNotRunning(f"session {self.config.name!r}: no bridge is running")
        if cmd["cmd"] in ENDING_COMMANDS:
            self._ending = cmd["cmd"]
        line = msgspec.json.encode(cmd) + b"\n"
        async with self._stdin_lock:
            try:
                await process.stdin.send(line)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                raise BridgeNotRunning(f"session {self.config.name!r}: the bridge is gone") from None

    # -- the session --------------------------------------------------------------------------

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
                self._run_connected = self._stalled = False
                self._run_error = None
                code = await self._run_bridge(ctx, report_ready)
                report_ready()  # readiness never waits for a bridge that cannot start
                if self._ending is not None:
                    log.info("bridge stopped on request; session ended" if self._ending == "stop"
                             else "logged out on request; session ended", exit_status=code)
                    return
                if code == EXIT_NEEDS_LOGIN:
                    await self._give_up(ctx, "the session needs a new login (QR code or pairing "
                                             "code); the bridge is not restarted", code)
                    return
                reason = self._run_error or _describe_exit(code)
                self._health.error(reason)
                if not self._run_connected and self._health.failed_attempt():
                    await self._give_up(ctx, f"{self._health.recent_failures} connection attempts "
                                             f"failed within {self.settings.fail_window:g} s; "
                                             "the bridge is not restarted", code)
                    return
                delay = self.backoff.next_delay(anyio.current_time() - began)
                self._health.restarts += 1
                self._log_exit(code, delay, reason)
                await anyio.sleep(delay)

    async def _give_up(self, ctx: SessionContext, message: str, code: int | None) -> None:
        """``FAILED``: emitted (unless the records said so already), logged, the end."""
        self._health.failed = True
        if self._run_error:
            self._health.error(self._run_error)
        if self.status != FAILED:
            await self._emit_all(ctx, self.translator.status.set(FAILED), ignore=False)
        log.error(message, exit_status=code, error=self._health.last_error,
                  restarts=self._health.restarts)
        self._note_change()

    def _log_exit(self, code: int | None, delay: float, reason: str) -> None:
        fields: dict[str, Any] = {"exit_status": code, "restarts": self.restarts,
                                  "restart_in_s": delay, "error": reason,
                                  "connected": self._run_connected}
        if not self._run_connected and self.settings.fail_after:
            fields["failed_attempts"] = f"{self._health.recent_failures}/{self.settings.fail_after}"
        if self._stalled:
            message = "bridge went silent; restarting"
        elif code is None:
            message = "retrying to start the bridge"
        elif code == EXIT_RECONNECT:
            message = "bridge disconnected; restarting"
        elif code == EXIT_STOPPED:
            message = "bridge exited without being asked; restarting"
        elif code < 0:
            message = "bridge killed by a signal; restarting"
            fields["signal"] = (signal.Signals(-code).name if -code in signal.valid_signals()
                                else -code)
        else:
            message = "bridge failed; restarting"
        log.warning(message, **fields)

    async def _emit_all(self, ctx: SessionContext, emissions: Iterable[Emission], *,
                        ignore: bool = True) -> None:
        for emission in emissions:
            if emission.name == "session.status" and getattr(emission.payload, "status", None) == WORKING:
                self._connected()
            self.terminal_qr.offer(emission)
            if ignore and self.ignore.drops(emission):
                continue
            await ctx.emit(emission, self.translator.me)

    def _connected(self) -> None:
        if not self._run_connected:
            self._run_connected = True
            self._health.connected()

    async def _run_bridge(self, ctx: SessionContext, report_ready: Callable[[], None]) -> int | None:
        """Start one bridge process and pump it until it exits; its exit status, or None
        when it could not be started."""
        if self.command is None and not (self.bridge_dir / "node_modules").is_dir():
            self._run_error = "the bridge is not installed: run `python -m core engines install`"
            log.warning(self._run_error, bridge_dir=str(self.bridge_dir))
            return None
        command = self.bridge_command()
        try:
            self.auth_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            process = await anyio.open_process(
                command, stdin=PIPE, stdout=PIPE, stderr=PIPE, start_new_session=True,
                cwd=self.bridge_dir if self.bridge_dir.is_dir() else None,
                env=bridge_environment(self.config))
        except OSError as exc:
            hint = "set HOOKWIRE_NODE to the Node.js executable" if self.command is None else None
            self._run_error = f"cannot start the bridge: {type(exc).__name__}: {exc}"
            log.warning("cannot start the bridge", command=command[0], hint=hint,
                        error=f"{type(exc).__name__}: {exc}")
            return None
        self.runs += 1
        self.pids.append(process.pid)
        self._process = process
        self._health.activity()
        self._note_change()
        tree: set[reaper.ProcessId] = set()
        log.info("bridge started", bridge_pid=process.pid, run=self.runs,
                 auth_dir=str(self.auth_dir))
        try:
            report_ready()
            if not self._starting_emitted:
                self._starting_emitted = True
                await self._emit_all(ctx, self.translator.start(), ignore=False)
            await BridgeRun(self, process, ctx, tree).pump()
        finally:
            with anyio.CancelScope(shield=True):
                await stop_process(process, tree, ask=lambda: self._ask_to_stop(process),
                                   stop_timeout=self.settings.stop_timeout,
                                   kill_timeout=self.settings.kill_timeout,
                                   auth_dir=str(self.auth_dir))
                self._process = None
                code = process.returncode if process.returncode is not None else -9
                self.exit_codes.append(code)
                self.commands.fail_all("gone", f"the bridge exited (status {code})",
                                       except_commands=frozenset({"stop"}))
                self._note_change()
                log.info("bridge exited", bridge_pid=process.pid, exit_status=process.returncode)
        return process.returncode

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


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the bridge could not be started"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"the bridge was killed by {name}"
    if code == EXIT_RECONNECT:
        return "the bridge's connection closed"
    return f"the bridge exited with status {code}"
