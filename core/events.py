"""Events: the envelope a receiver sees, one Struct per event name, tagged on ``"event"``.

Every event class *is* its envelope (``webhook-contract.md`` §1): msgspec writes the tag as
the ``event`` key, so ``encode(event)`` is the exact webhook body. The catalogue below holds
WAHA's names; plugins add their own through the ``hookwire_register_event_types`` hook, and
:class:`EventTypes` builds the decode union once every plugin is loaded.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

import msgspec

from core import __version__
from core import payloads as p
from core.ulid import derived_event_id, new_event_id


class Me(msgspec.Struct, kw_only=True):
    """The session's own account. ``pushName`` is a string or absent, never ``null`` (as
    WAHA writes it, and as waha-py's ``MeInfo`` reads it): ``None`` leaves the key out."""

    id: str
    pushName: str | None | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.pushName is None:
            self.pushName = msgspec.UNSET


class Worker(msgspec.Struct, kw_only=True):
    #: ``[kernel] worker_id`` / ``HOOKWIRE_WORKER_ID``; ``""`` when none is set (WAHA's own
    #: default for ``WAHA_WORKER_ID``), never ``null`` (an older ``null`` decodes as ``""``).
    id: str | None = ""

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""


class Environment(msgspec.Struct, kw_only=True):
    """``environment`` as WAHA sends it: version, engine, tier, browser, platform, worker."""

    version: str
    engine: str
    #: WAHA's edition (``CORE`` or ``PLUS``); hookwire answers ``CORE``.
    tier: str = "CORE"
    #: The browser executable, as WAHA 2024.10 wrote it for every engine (the Chromium WEBJS
    #: runs: ``HOOKWIRE_CHROMIUM``, else ``/usr/bin/chromium``).
    browser: str = ""
    #: ``<os>/<arch>`` in Node.js's words, as WAHA's ``process.platform/process.arch``.
    platform: str = ""
    worker: Worker = msgspec.field(default_factory=Worker)


class Envelope(msgspec.Struct, kw_only=True, tag_field="event", omit_defaults=False):
    """Fields shared by every event. Subclasses set the tag (the event name) and ``payload``."""

    id: str
    timestamp: int
    session: str
    metadata: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    me: Me | None = None
    payload: Any = None
    engine: str
    environment: Environment

    @property
    def name(self) -> str:
        """The event name (the tag), e.g. ``"message.any"``."""
        return type(self).__struct_config__.tag  # type: ignore[return-value]


def define_event(name: str, payload_type: Any = Any) -> type[Envelope]:
    """Make the envelope class of event ``name`` whose payload is ``payload_type``."""
    class_name = "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Event"
    return msgspec.defstruct(
        class_name,
        [("payload", payload_type, None if payload_type is Any else msgspec.NODEFAULT)],
        bases=(Envelope,),
        tag=name,
        kw_only=True,
        module=__name__,
    )


#: The raw debug firehose; excluded from ``*`` (opt-in only).
ENGINE_EVENT = "engine.event"

_CATALOGUE: dict[str, Any] = {
    "session.status": p.SessionStatusPayload,
    "message": p.MessagePayload,
    "message.any": p.MessagePayload,
    "message.reaction": p.ReactionPayload,
    "message.ack": p.MessagePayload,
    "message.ack.group": p.MessagePayload,
    "message.waiting": p.MessagePayload,
    "message.edited": p.MessagePayload,
    "message.revoked": p.RevokedPayload,
    "chat.archive": Any,
    "group.v2.join": p.GroupV2JoinPayload,
    "group.v2.leave": p.GroupV2LeavePayload,
    "group.v2.update": Any,
    "group.v2.participants": p.GroupV2ParticipantsPayload,
    "presence.update": p.PresencePayload,
    "poll.vote": Any,
    "poll.vote.failed": Any,
    "label.upsert": Any,
    "label.deleted": Any,
    "label.chat.added": Any,
    "label.chat.deleted": Any,
    "call.received": Any,
    "call.accepted": Any,
    "call.rejected": Any,
    ENGINE_EVENT: p.EngineEventPayload,
    "state.change": Any,
    "group.join": Any,
    "group.leave": Any,
}

#: name -> envelope class, for WAHA's catalogue (``webhook-contract.md`` §2).
CATALOGUE: dict[str, type[Envelope]] = {
    name: define_event(name, payload) for name, payload in _CATALOGUE.items()
}


class EventTypes:
    """The known event classes: the catalogue plus what plugins registered.

    ``decoder()`` is built once, after plugins are loaded, and reused.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type[Envelope]] = dict(CATALOGUE)
        self._decoder: msgspec.json.Decoder | None = None

    def add(self, cls: type[Envelope]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Envelope)):
            raise TypeError(f"{cls!r} is not a tagged Envelope subclass")
        name = cls.__struct_config__.tag
        if not isinstance(name, str):
            raise TypeError(f"{cls!r} is not a tagged Envelope subclass")
        if name in self._by_name and self._by_name[name] is not cls:
            raise ValueError(f"event name {name!r} is already registered")
        self._by_name[name] = cls
        self._decoder = None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> type[Envelope]:
        return self._by_name[name]

    def decoder(self) -> msgspec.json.Decoder:
        if self._decoder is None:
            union = tuple(self._by_name.values())
            self._decoder = msgspec.json.Decoder(union[0] if len(union) == 1 else _union(union))
        return self._decoder


def _union(types: tuple[type, ...]) -> Any:
    from typing import Union

    return Union[types]


#: Python's machine names as Node.js's ``process.arch`` says them.
_NODE_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64",
              "i386": "ia32", "i686": "ia32", "x86": "ia32", "armv7l": "arm", "armv6l": "arm",
              "ppc64le": "ppc64", "s390x": "s390x", "riscv64": "riscv64"}


def platform_name() -> str:
    """``linux/x64``, as WAHA reports ``process.platform/process.arch``."""
    machine = platform.machine()
    return f"{sys.platform}/{_NODE_ARCH.get(machine.lower(), machine.lower() or 'unknown')}"


def browser_path() -> str:
    """The Chromium the WEBJS bridge runs."""
    return os.environ.get("HOOKWIRE_CHROMIUM") or "/usr/bin/chromium"


def environment(engine: str, worker_id: str | None) -> Environment:
    return Environment(
        version=__version__,
        engine=engine,
        browser=browser_path(),
        platform=platform_name(),
        worker=Worker(id=worker_id or ""),
    )


def make_event(
    event_types: EventTypes | None,
    name: str,
    payload: Any,
    *,
    session: str,
    engine: str,
    env: Environment,
    me: Me | None = None,
    metadata: dict[str, str] | None = None,
    key: str | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Wrap a translated payload as the envelope of event ``name``, timestamped now (ms).

    The id: ``event_id`` when given; else, with ``key`` (the event's stable identity,
    :class:`core.engine.Emission`), one derived from (session, key), so the same event sent
    again gets the same id (:func:`stable_event_id`); else a new one."""
    cls = event_types.get(name) if event_types is not None else CATALOGUE[name]
    if event_id is None:
        event_id = new_event_id() if key is None else stable_event_id(session, key, payload)
    return cls(
        id=event_id,
        timestamp=time.time_ns() // 1_000_000,
        session=session,
        metadata=msgspec.UNSET if metadata is None else metadata,
        me=me,
        payload=payload,
        engine=engine,
        environment=env,
    )


def stable_event_id(session: str, key: str, payload: Any) -> str:
    """The id of the event of ``session`` whose identity is ``key``: BLAKE2b of both; the time
    part is the event's own ``timestamp`` (seconds or ms, as WhatsApp gives it), 0 without one
    (a time that changed between two sendings would change the id)."""
    timestamp = getattr(payload, "timestamp", None)
    if (isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool)
            and 0 < timestamp < 1e15):  # finite, and not absurd
        time_ms = int(timestamp * 1000) if timestamp < 100_000_000_000 else int(timestamp)
    else:
        time_ms = 0
    # Session names are [A-Za-z0-9_.-] and keys JSON text: NUL separates them unambiguously.
    return derived_event_id(time_ms, f"live\0{session}\0{key}".encode())

#: One encoder for the whole process (msgspec encoders are reusable and thread-safe).
encoder = msgspec.json.Encoder()
