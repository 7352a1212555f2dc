"""Requests to a bridge and their answers: the Python side of the bridge's command protocol.

A request is one JSON line on the bridge's stdin, ``{"cmd": NAME, "id": ID, "timeout_ms": N,
...args}``; the bridge answers on stdout with a protocol record

    {"type": "hookwire.result", "data": {"id": ID, "ok": true, "result": <json>}}
    {"type": "hookwire.result", "data": {"id": ID, "ok": false,
                                         "error": {"code": "...", "message": "..."}}}

:class:`CommandChannel` gives each request an id, bounds how many are in flight, waits for the
answer with a timeout and, when the bridge exits, fails every request still in flight
(``gone``). An answer that comes after its request timed out is logged and dropped. Records whose
``type`` starts with ``hookwire.`` are protocol records (also ``hookwire.heartbeat`` and
``hookwire.me``): :func:`decode_protocol_record` recognises them so that they are never
translated as native events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec

from core.engine import COMMAND_ERROR_CODES, CommandError
from core.logging import get_logger

log = get_logger("engines.bridge")

PROTOCOL_PREFIX = "hookwire."
_PREFIX_BYTES = PROTOCOL_PREFIX.encode()
RESULT = "hookwire.result"
HEARTBEAT = "hookwire.heartbeat"
ME = "hookwire.me"

#: Arguments a command may not carry: the protocol's own keys.
_RESERVED_ARGS = frozenset({"cmd", "id", "timeout_ms"})


class ResultError(msgspec.Struct, kw_only=True):
    code: str
    message: str


class ResultData(msgspec.Struct, kw_only=True):
    id: str
    ok: bool
    result: Any = None
    error: ResultError | None = None
    #: Ids (WAHA's format) of the messages the command sent: their events say
    #: ``source: "api"``. The bridge writes the answer before the records of those messages.
    sent: list[str] = []


class HeartbeatData(msgspec.Struct, kw_only=True):
    #: The bridge's view of its session: STARTING, SCAN_QR_CODE, WORKING...
    status: str


class MeData(msgspec.Struct, kw_only=True):
    id: str
    pushName: str | None = None
    lid: str | None = None


class ProtocolRecord(msgspec.Struct, kw_only=True):
    type: str
    data: Any = None
    ts: int | float | None = None


class _TypeOnly(msgspec.Struct):
    type: Any = None


_type_decoder = msgspec.json.Decoder(_TypeOnly)
_record_decoder = msgspec.json.Decoder(ProtocolRecord)
_DATA_TYPES: dict[str, type[msgspec.Struct]] = {RESULT: ResultData, HEARTBEAT: HeartbeatData,
                                                ME: MeData}


class BadProtocolRecord(Exception):
    """A ``hookwire.*`` record that does not fit the protocol."""

    def __init__(self, record_type: str, reason: str) -> None:
        super().__init__(reason)
        self.record_type = record_type
        self.reason = reason


def decode_protocol_record(line: bytes) -> tuple[str, Any] | None:
    """``(type, typed data)`` when ``line`` is a protocol record, ``None`` when it is anything
    else (a native record, or garbage for the translator to report). Raises
    :class:`BadProtocolRecord` for a protocol record of the wrong shape."""
    if _PREFIX_BYTES not in line[:64]:
        return None  # the cheap test: a bridge writes ``{"type":"hookwire.…`` first
    try:
        kind = _type_decoder.decode(line).type
    except msgspec.MsgspecError:
        return None
    if not isinstance(kind, str) or not kind.startswith(PROTOCOL_PREFIX):
        return None
    data_type = _DATA_TYPES.get(kind)
    if data_type is None:
        raise BadProtocolRecord(kind, f"unknown protocol record type {kind!r}")
    try:
        record = _record_decoder.decode(line)
        return kind, msgspec.convert(record.data, data_type)
    except msgspec.MsgspecError as exc:
        raise BadProtocolRecord(kind, f"{kind}: {exc}") from None


class _Pending:
    __slots__ = ("command", "done", "error", "result")

    def __init__(self, command: str) -> None:
        self.command = command
        self.done = anyio.Event()
        self.result: Any = None
        self.error: CommandError | None = None


class CommandChannel:
    """The requests in flight to one session's bridge (across its restarts)."""

    def __init__(self, session: str, max_in_flight: int,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.session = session
        self.max_in_flight = max_in_flight
        #: Called when a request starts or ends (for waiters on the session).
        self.on_change = on_change
        self._pending: dict[str, _Pending] = {}
        self._last_id = 0
        #: Answers that came for no request in flight (it had timed out).
        self.late_answers = 0

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def call(self, write: Callable[[bytes], Awaitable[None]], command: str,
                   args: dict[str, Any], timeout: float) -> Any:
        """Write the request with ``write`` and wait up to ``timeout`` seconds for its answer.
        ``write`` raises :class:`CommandError` when the bridge cannot take it."""
        clash = sorted(_RESERVED_ARGS & set(args))
        if clash:
            raise CommandError("invalid", f"command {command!r}: argument {clash[0]!r} is reserved")
        if len(self._pending) >= self.max_in_flight:
            raise CommandError("busy", f"session {self.session!r}: {len(self._pending)} commands "
                                       f"are in flight already (the limit)")
        self._last_id += 1
        request_id = str(self._last_id)
        pending = self._pending[request_id] = _Pending(command)
        self.on_change()
        try:
            try:
                line = msgspec.json.encode({"cmd": command, "id": request_id,
                                            "timeout_ms": int(timeout * 1000), **args})
            except (TypeError, msgspec.EncodeError) as exc:
                raise CommandError("invalid", f"command {command!r}: arguments are not JSON: "
                                              f"{exc}") from None
            await write(line + b"\n")
            with anyio.move_on_after(timeout):
                await pending.done.wait()
            if not pending.done.is_set():
                raise CommandError("timeout", f"session {self.session!r}: no answer to "
                                              f"{command!r} from the bridge in {timeout:g} s")
            if pending.error is not None:
                raise pending.error
            return pending.result
        finally:
            self._pending.pop(request_id, None)
            self.on_change()

    def answer(self, data: ResultData) -> None:
        """Hand a ``hookwire.result`` to the request waiting for it."""
        pending = self._pending.get(data.id)
        if pending is None or pending.done.is_set():
            self.late_answers += 1
            log.warning("bridge answered a command no longer waited for; dropped",
                        request_id=data.id, ok=data.ok, late_answers=self.late_answers)
            return
        if data.ok:
            pending.result = data.result
        else:
            error = data.error or ResultError(code="failed", message="the bridge gave no reason")
            code = error.code if error.code in COMMAND_ERROR_CODES else "failed"
            pending.error = CommandError(code, error.message)
        pending.done.set()

    def fail_all(self, code: str, message: str, *, except_commands: frozenset[str] = frozenset()) -> None:
        """Fail every request in flight (the bridge is gone); those in ``except_commands``
        succeed instead (a ``stop`` whose bridge exited did what it asked)."""
        for pending in self._pending.values():
            if pending.done.is_set():
                continue
            if pending.command not in except_commands:
                pending.error = CommandError(code, f"{message} while {pending.command!r} was "
                                                   "in flight")
            pending.done.set()
