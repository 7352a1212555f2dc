"""The WEBJS translator: whatsapp-web.js records → WAHA events, at WAHA 2026.2.1 fidelity.

One record gives these emissions, in this order (``engine.event`` always last, for every
known and valid record):

| native record                | emissions                                                   |
|------------------------------|-------------------------------------------------------------|
| ``message_create``           | ``message.any``                                              |
| ``message``                  | ``message``                                                  |
| ``message_ciphertext``       | ``message.waiting``                                          |
| ``message_ack``              | ``message.ack`` (DMs only, not a repeat within 60 s)         |
| ``tag:receipt``              | ``message.ack.group`` per message id (groups/status, no repeats) |
| ``message_revoke_everyone``  | ``message.revoked``                                          |
| ``message_reaction``         | ``message.reaction`` (unless older than the last ``qr``)     |
| ``message_edit``             | ``message.edited``                                           |
| ``vote_update``              | ``poll.vote``                                                |
| ``tag:presence``, ``tag:chatstate`` | ``presence.update``                                   |
| ``change_state``             | ``state.change`` (the raw WAState string, §11.1)             |
| ``group_join``               | ``group.join`` (raw), ``group.v2.participants``              |
| ``group_leave``              | ``group.leave`` (raw), ``group.v2.leave`` (when I am the one |
|                              | removed), ``group.v2.participants``                          |
| ``group_admin_changed``      | ``group.v2.participants``                                    |
| ``chat_archived``            | ``chat.archive``                                             |
| ``call``                     | ``call.received``                                            |
| ``qr``, ``authenticated``, ``auth_failure``, ``disconnected`` | ``session.status``          |
| every other known type (``ready``, ``group_update``, …) | nothing but ``engine.event``      |

``group.v2.join`` and ``group.v2.update`` are never emitted: WAHA builds them from live
``getChatById``/``getInviteCode`` calls that a translator of records cannot make
(see :mod:`engines.webjs.groups`).

State (explicit, changed only once a record proved good): the session-status history, the
``DistinctAck`` keys, and the wall-clock time of the last ``qr`` (WAHA drops reactions older
than it, #494; so in a replay every reaction after a ``qr`` record is dropped unless its
timestamp is later than the moment that ``qr`` was handled). Clocks are injectable.

JIDs that WAHA copies as they come but that may be WA Web ``Wid`` objects (a quoted
message's author, ``Reaction.id.remote``, ``recipientIds``, ``call.from``) are written as
their ``_serialized`` string, so every JID field of a payload is a string.

Identity: ``me_id``/``me_lid`` come from the session config (or a live bridge); the records
never change them. Without ``me_id`` there is no ``group.v2.leave`` and no
``message.ack.group`` (WAHA needs ``me`` for both). ``WORKING`` is emitted at once instead of
WAHA's 2 s delay while ``me`` is unknown (see :mod:`engines.webjs.status`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from msgspec import UNSET

from core.engine import Emission
from core.logging import get_logger
from core.payloads import EngineEventPayload, ReactionBody, ReactionPayload
from engines.common.records import BadRecord, NativeRecord
from engines.common.translator import BaseTranslator
from engines.common.waha import DistinctAck, SessionStatusTracker, normalize_jid
from engines.webjs import acks, groups, messages, presence
from engines.webjs.calls_chats import call_payload, chat_archive_payload
from engines.webjs.jids import wid_string
from engines.webjs.jsvalues import (
    bool_or_bad,
    get,
    is_number,
    number_or_bad,
    object_or_bad,
    str_or_bad,
)
from engines.webjs.native import NATIVE_EVENTS, check_data
from engines.webjs.polls import poll_vote_payload
from engines.webjs.status import STARTING, STATUS_BY_NATIVE

log = get_logger("engines.webjs")


class Mapped(NamedTuple):
    """What one record gives before any state changes: emissions, the ack keys to remember,
    the session status to set, and whether it is a new QR."""

    emissions: list[Emission]
    ack_keys: tuple[str, ...] = ()
    status: str | None = None
    qr: bool = False


_NOTHING = Mapped([])


class WebjsTranslator(BaseTranslator):
    engine = "WEBJS"

    def __init__(self, session: str, me_id: str | None = None, me_lid: str | None = None,
                 me_push_name: str | None = None, *,
                 wall_clock: Callable[[], float] = time.time,
                 ack_clock: Callable[[], float] = time.monotonic,
                 status_clock_ms: Callable[[], int] | None = None) -> None:
        super().__init__(session, me_id, me_lid, me_push_name)
        #: Seconds since the epoch; compared with reaction timestamps (#494).
        self.wall_clock = wall_clock
        self.distinct_ack = DistinctAck(clock=ack_clock)
        self.status = SessionStatusTracker(session, status_clock_ms)
        #: ``wall_clock()`` when the last ``qr`` record was handled, if any.
        self.last_qr_at: float | None = None
        # A translator is made for a session that has just started: it is STARTING from the
        # beginning, so the history holds STARTING even where ``start()`` is not called.
        self._starting = self.status.set(STARTING)
        self._handlers: dict[str, Callable[[Any], Mapped]] = {
            "message_create": lambda data: self._message(data, "message_create", "message.any"),
            "message": lambda data: self._message(data, "message", "message"),
            "message_ciphertext": self._ciphertext,
            "message_ack": self._message_ack,
            "tag:receipt": self._receipt,
            "message_revoke_everyone": self._revoked,
            "message_reaction": self._reaction,
            "message_edit": self._edited,
            "vote_update": lambda data: _one("poll.vote", poll_vote_payload(data, self.me_id)),
            "tag:presence": lambda data: _one("presence.update", presence.presence_from_tag(data)),
            "tag:chatstate": lambda data: _one("presence.update",
                                               presence.presence_from_chatstate(data)),
            "change_state": lambda data: _one("state.change", data),
            "group_join": self._group_join,
            "group_leave": self._group_leave,
            "group_admin_changed": self._group_admin_changed,
            "chat_archived": lambda data: _one("chat.archive", chat_archive_payload(data)),
            "call": lambda data: _one("call.received", call_payload(data)),
            "qr": lambda data: Mapped([], status=STATUS_BY_NATIVE["qr"], qr=True),
            "authenticated": lambda data: Mapped([], status=STATUS_BY_NATIVE["authenticated"]),
            "auth_failure": lambda data: Mapped([], status=STATUS_BY_NATIVE["auth_failure"]),
            "disconnected": lambda data: Mapped([], status=STATUS_BY_NATIVE["disconnected"]),
        }

    def start(self) -> list[Emission]:
        return list(self._starting)

    def map(self, record: NativeRecord, position: str) -> list[Emission]:
        data = check_data(record.type, record.data)
        handler = self._handlers.get(record.type)
        mapped = handler(data) if handler is not None else _NOTHING
        # The record is good: commit its state changes, then finish its emissions.
        emissions = list(mapped.emissions)
        for key in mapped.ack_keys:
            self.distinct_ack.accept(key)
        if mapped.qr:
            self.last_qr_at = self.wall_clock()
        if mapped.status is not None:
            emissions.extend(self.status.set(mapped.status))
        no_argument = NATIVE_EVENTS[record.type].kind in ("none", "optional") and data is None
        emissions.append(Emission("engine.event", EngineEventPayload(
            native_event=record.type, data=UNSET if no_argument else data)))
        return emissions

    # -- messages ----------------------------------------------------------------------------

    def _message(self, message: Any, what: str, name: str) -> Mapped:
        payload = messages.to_wa_message(message, what)
        return _one(name, messages.with_media(payload, message, what))

    def _ciphertext(self, message: Any) -> Mapped:
        return _one("message.waiting", messages.to_wa_message(message, "message_ciphertext"))

    def _revoked(self, args: list[Any]) -> Mapped:
        before = args[1] if len(args) > 1 else None
        return _one("message.revoked", messages.revoked_payload(args[0], before))

    def _edited(self, args: list[Any]) -> Mapped:
        return _one("message.edited", messages.edited_payload(args))

    def _reaction(self, reaction: Any) -> Mapped:
        reaction = object_or_bad(reaction, "message_reaction")
        key = object_or_bad(reaction.get("id", UNSET), "message_reaction.id")
        serialized = key.get("_serialized", UNSET)
        if not isinstance(serialized, str) or not serialized:
            raise BadRecord("message_reaction: id._serialized is missing")
        parent = object_or_bad(reaction.get("msgId", UNSET), "message_reaction.msgId")
        sender = str_or_bad(reaction.get("senderId", UNSET), "message_reaction.senderId")
        timestamp = number_or_bad(reaction.get("timestamp", UNSET), "message_reaction.timestamp")
        payload = ReactionPayload(
            id=serialized,
            from_=normalize_jid(sender),
            fromMe=bool_or_bad(key.get("fromMe", UNSET), "message_reaction.id.fromMe"),
            source=messages.SOURCE_APP,
            participant=sender,
            to=wid_string(key.get("remote", UNSET), "message_reaction.id.remote"),
            timestamp=timestamp,
            reaction=ReactionBody(
                text=str_or_bad(reaction.get("reaction", UNSET), "message_reaction.reaction"),
                messageId=str_or_bad(get(parent, "_serialized"),
                                     "message_reaction.msgId._serialized"),
            ),
        )
        if self.last_qr_at is not None and is_number(timestamp) and timestamp < self.last_qr_at:
            log.info("message.reaction dropped: older than the last QR (WAHA #494)",
                     engine=self.engine, session=self.session, event_name="message.reaction",
                     reaction_timestamp=timestamp, last_qr_at=round(self.last_qr_at, 3))
            return _NOTHING
        return _one("message.reaction", payload)

    # -- acks --------------------------------------------------------------------------------

    def _message_ack(self, args: list[Any]) -> Mapped:
        payload = acks.dm_ack(args)
        if payload is None:
            return _NOTHING
        return self._distinct("message.ack", [payload])

    def _receipt(self, node: Any) -> Mapped:
        try:
            payloads = acks.group_acks(node, acks.Me(self.me_id, self.me_lid))
        except acks.MissingMe:
            log.warning("tag:receipt in a group needs the session's own JID: no message.ack.group",
                        engine=self.engine, session=self.session, event_name="message.ack.group")
            return _NOTHING
        return self._distinct("message.ack.group", payloads)

    def _distinct(self, name: str, payloads: list[Any]) -> Mapped:
        """Drop payloads whose ack key was emitted within the window (or earlier in this
        record); the keys of the rest are committed by :meth:`map`."""
        emissions, keys = [], []
        for payload in payloads:
            key = acks.ack_key(payload)
            if key in keys or self.distinct_ack.is_duplicate(key):
                continue
            keys.append(key)
            emissions.append(Emission(name, payload))
        return Mapped(emissions, ack_keys=tuple(keys))

    # -- groups ------------------------------------------------------------------------------

    def _group_join(self, raw: Any) -> Mapped:
        notification = groups.GroupNotification(raw, "group_join")
        return Mapped([Emission("group.join", notification.raw),
                       *_maybe("group.v2.participants", groups.participants_payload(notification))])

    def _group_leave(self, raw: Any) -> Mapped:
        notification = groups.GroupNotification(raw, "group_leave")
        return Mapped([Emission("group.leave", notification.raw),
                       *_maybe("group.v2.leave", groups.leave_payload(notification, self.me_id)),
                       *_maybe("group.v2.participants", groups.participants_payload(notification))])

    def _group_admin_changed(self, raw: Any) -> Mapped:
        notification = groups.GroupNotification(raw, "group_admin_changed")
        return Mapped(_maybe("group.v2.participants", groups.participants_payload(notification)))


def _one(name: str, payload: Any) -> Mapped:
    return Mapped([Emission(name, payload)])


def _maybe(name: str, payload: Any) -> list[Emission]:
    return [] if payload is None else [Emission(name, payload)]
