"""The sandbox source: a session without a phone (``source = "sandbox"``).

It is ``WORKING`` at once and plays the phone on the other end:

- a command (``send-text``, ``send-media``, ``react``, ``presence``… the same commands and
  arguments as the live bridges take, :class:`core.engine.CommandTarget`) is answered as the
  bridge would answer it (the library's result, in its shape), and the native records the
  library would emit for it are fed through the engine's real translator, so every envelope
  is exactly what the live engine gives: ``message_create`` / ``messages.upsert`` of the sent
  message, then its acknowledgements server → device → read after the configured delays;
- inbound messages are injected (:meth:`SandboxSession.inject`, the API's
  ``POST /api/sandbox/{session}/inbound``) as the records of a real incoming message;
- a recording (``sandbox.seed``) may seed it: its records are played when it starts;
- every native record it makes is kept (the last ``sandbox.keep_records``, for
  :meth:`recording`) and appended to ``sandbox.record`` when set, so a sandbox run can be
  replayed later like any recording.

What the records look like is the engine's business: an engine gives a
:class:`SandboxPhone` (``engines/<engine>/sandbox_records.py``); this module only runs it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup, TaskStatus

from core.config import SessionConfig
from core.engine import CommandError, Emission, SessionContext, SessionHealth
from core.logging import get_logger
from engines.common.ignore import IgnoreFilter
from engines.common.sandbox_args import chat_of
from engines.common.translator import BaseTranslator

log = get_logger("engines.sandbox")

#: The number the sandbox's account has when the session config names none.
SANDBOX_ME = "12025550100@c.us"
#: Commands that end the session.
ENDING_COMMANDS = frozenset({"stop", "logout"})
_encoder = msgspec.json.Encoder()


class Ack(NamedTuple):
    """Records to emit ``stage`` (``server``, ``device``, ``read``) after a send."""

    stage: str
    records: list[dict[str, Any]]


class Reply(NamedTuple):
    """What a command does in the sandbox: its answer (the library's result), the records
    emitted at once, the ids (WAHA's format) of messages it sent, and its acknowledgements."""

    result: Any
    records: list[dict[str, Any]] = []
    sent_ids: list[str] = []
    acks: list[Ack] = []


class Inbound(NamedTuple):
    """An injected message: its id (WAHA's format) and its records."""

    id: str
    records: list[dict[str, Any]]


class SandboxPhone(Protocol):
    """An engine's side of the sandbox: native records as its library writes them."""

    def login(self) -> list[dict[str, Any]]:
        """Records of a session logging in (to ``WORKING``)."""
        ...

    def command(self, command: str, args: dict[str, Any]) -> Reply:
        """Carry out a bridge command; raise :class:`core.engine.CommandError` as the bridge
        would (``invalid``, ``unsupported``, ``failed`` with the library's reason)."""
        ...

    def inbound(self, args: dict[str, Any]) -> Inbound:
        """The records of an incoming message (``from``, ``text``, ``participant``,
        ``pushName``, ``reply_to``, ``media``, ``reaction``, ``id``)."""
        ...

    def seen(self, record: dict[str, Any]) -> None:
        """A record of the seed recording went by (to know its messages)."""
        ...


class PhoneCommands:
    """What the phones of both engines share: commands dispatched to ``cmd_<name>`` methods
    (an unknown one is ``unsupported``, naming the engine), and the commands whose only effect
    is on the other end's screen (seen, presence: answered with nothing, arguments checked)."""

    engine = "?"

    def command(self, command: str, args: dict[str, Any]) -> Reply:
        handler = getattr(self, "cmd_" + command.replace("-", "_"), None)
        if handler is None:
            raise CommandError("unsupported", f"the {self.engine} sandbox has no command {command!r}")
        return handler(args)

    def cmd_send_seen(self, args: dict[str, Any]) -> Reply:
        chat_of(args)
        return Reply(result=None)

    def cmd_presence(self, args: dict[str, Any]) -> Reply:
        presence = args.get("presence")
        if presence not in ("online", "offline", "typing", "recording", "paused"):
            raise CommandError("invalid", f"unknown presence {presence!r}")
        if presence not in ("online", "offline"):
            chat_of(args)
        return Reply(result=None)


class SandboxSession:
    """:class:`core.engine.EngineSession`, :class:`core.engine.CommandTarget` and
    :class:`core.engine.HealthReporter` of a session without a phone."""

    def __init__(self, config: SessionConfig,
                 make_translator: Callable[[SessionConfig], BaseTranslator],
                 make_phone: Callable[[SessionConfig, str], SandboxPhone]) -> None:
        if config.me_id is None:
            config = msgspec.structs.replace(config, me_id=SANDBOX_ME)
        self.config = config
        self.settings = config.sandbox
        self.translator = make_translator(config)
        self.me_id = config.me_id or SANDBOX_ME
        self.phone = make_phone(config, self.me_id)
        self.ignore = IgnoreFilter(config.ignore)
        self.records: deque[bytes] = deque(maxlen=self.settings.keep_records or None)
        self.records_made = 0
        self._keep = self.settings.keep_records > 0
        self._lock = anyio.Lock()
        self._ctx: SessionContext | None = None
        self._tg: TaskGroup | None = None
        self._out: IO[bytes] | None = None
        self._ended = anyio.Event()
        self._ending: str | None = None
        self._last_activity: int | None = None

    # -- what others see ----------------------------------------------------------------------

    @property
    def status(self) -> str | None:
        return self.translator.status.status

    def health(self) -> SessionHealth:
        return SessionHealth(last_activity_at=self._last_activity)

    def recording(self) -> bytes:
        """The native records kept (JSONL), oldest first: a recording to replay or seed."""
        return b"".join(line + b"\n" for line in self.records)

    # -- the session --------------------------------------------------------------------------

    async def run(self, ctx: SessionContext, *, task_status: TaskStatus[None]) -> None:
        with structlog.contextvars.bound_contextvars(session=self.config.name,
                                                     engine=self.config.engine):
            try:
                self._out = self._open_record_file()
                async with anyio.create_task_group() as tg:
                    self._ctx, self._tg = ctx, tg
                    async with self._lock:
                        for emission in self.translator.start():
                            await self._emit(emission)
                        await self._feed(self.phone.login())
                        await self._play_seed()
                    log.info("sandbox session working", me=self.me_id,
                             seed=self.settings.seed, record=self.settings.record)
                    task_status.started()
                    await self._ended.wait()
                    tg.cancel_scope.cancel()
                log.info("sandbox session ended on request", command=self._ending)
            finally:
                self._ctx = self._tg = None
                if self._out is not None:
                    self._out.close()
                    self._out = None

    def _open_record_file(self) -> IO[bytes] | None:
        if not self.settings.record:
            return None
        path = Path(self.settings.record)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("ab")

    async def _play_seed(self) -> None:
        if not self.settings.seed:
            return
        path = Path(self.settings.seed)
        with path.open("rb") as source:
            for number, line in enumerate(source, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = msgspec.json.decode(line)
                except msgspec.DecodeError:
                    record = None
                if isinstance(record, dict):
                    self.phone.seen(record)
                await self._feed_line(line, f"{path.name}:{number}")

    async def _emit(self, emission: Emission) -> None:
        assert self._ctx is not None
        if not self.ignore.drops(emission):
            await self._ctx.emit(emission, self.translator.me)

    async def _feed(self, records: list[dict[str, Any]]) -> None:
        """Stamp, keep and translate records (under the lock), in order."""
        for record in records:
            record.setdefault("ts", time.time_ns() // 1_000_000)
            await self._feed_line(_encoder.encode(record), f"sandbox:{self.records_made + 1}")

    async def _feed_line(self, line: bytes, position: str) -> None:
        self.records_made += 1
        if self._keep:
            self.records.append(line)
        if self._out is not None:
            self._out.write(line + b"\n")
            self._out.flush()
        self._last_activity = time.time_ns() // 1_000_000
        for emission in self.translator.translate_line(line, position):
            await self._emit(emission)

    # -- commands -----------------------------------------------------------------------------

    def _running(self, what: str) -> TaskGroup:
        tg = self._tg
        if tg is None or self._ctx is None or self._ending is not None:
            raise CommandError("not_working", f"session {self.config.name!r} is not running: "
                                              f"{what} needs a working session")
        return tg

    async def request(self, command: str, args: dict[str, Any], *,
                      timeout: float | None = None) -> Any:
        """:class:`core.engine.CommandTarget`: what the live bridge would answer."""
        del timeout  # nothing here waits for a library
        tg = self._running(repr(command))
        if command in ENDING_COMMANDS:
            self._ending = command
            self._ended.set()
            return None
        if command == "me":
            return {"id": self.me_id, **({"pushName": self.config.me_push_name}
                                         if self.config.me_push_name else {})}
        if command == "pairing-code":
            raise CommandError("failed", "a sandbox session is logged in already: it needs "
                                         "no pairing code")
        reply = self.phone.command(command, args)
        async with self._lock:
            for message_id in reply.sent_ids:
                self.translator.note_sent(message_id)
            await self._feed(list(reply.records))
        if reply.acks:
            tg.start_soon(self._acknowledge, reply.acks)
        return reply.result

    async def _acknowledge(self, acks: list[Ack]) -> None:
        """Each stage after its delay from the send (``read_ack_ms = -1``: never read)."""
        began = anyio.current_time()
        delays = {"server": self.settings.server_ack_ms, "device": self.settings.device_ack_ms,
                  "read": self.settings.read_ack_ms}
        for ack in acks:
            delay = delays[ack.stage]
            if delay < 0:
                return
            await anyio.sleep(max(0.0, began + delay / 1000 - anyio.current_time()))
            async with self._lock:
                await self._feed(list(ack.records))

    async def inject(self, args: dict[str, Any]) -> str:
        """An incoming message, as the phone on the other end sends it; its id."""
        self._running("injecting a message")
        inbound = self.phone.inbound(args)
        async with self._lock:
            await self._feed(list(inbound.records))
        return inbound.id
