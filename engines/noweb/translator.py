"""The NOWEB translator: Baileys event records → WAHA events, per ``engine-mapping.md`` §7.

One record ``{"type": <BaileysEventMap key>, "data": <listener argument>}`` gives, in order:

==============================  =============================================================
``connection.update``           ``session.status`` (if it changes), ``state.change`` (the raw
                                update)
``creds.update``                nothing (our account is learned from ``me``)
``messages.upsert``             see :mod:`engines.noweb.message_upsert`
``messages.update``             per item ``message.ack``, then ``poll.vote``
``message-receipt.update``      per item ``message.ack.group``
``presence.update``             ``presence.update``
``groups.upsert``               per group ``group.join`` then ``group.v2.join``
``groups.update``               per item ``group.v2.update``
``group-participants.update``   ``group.v2.participants``, then ``group.v2.leave``
``call``                        per item ``call.received`` / ``call.accepted`` / ``call.rejected``
``labels.edit``                 ``label.upsert`` or ``label.deleted``
``labels.association``          ``label.chat.added`` or ``label.chat.deleted``
other Baileys events            nothing
==============================  =============================================================

and last, for every record of a known type that is not rejected, ``engine.event``
``{event: type, data}`` with the raw data (for ``creds.update`` only its ``me``: the rest of the
credentials is key material and is never forwarded). A synthetic event WAHA issues inside
(the #379 presence, the edit's ``messages.update``) gets no ``engine.event`` of its own.

Bad input (§3) raises :class:`BadRecord` before any state changes: an unknown or missing
``type``, ``data`` that is ``null`` or missing or of the wrong shape. In records with several
items each item is mapped on its own and a bad item is skipped, logged and counted.

State (kept here, explicitly): the session status history, one ``DistinctAck`` for
``message.ack`` and ``message.ack.group``, the presence store, the poll and label stores, the
calls in progress and our own account. ``clock_ms`` (wall clock, ms) stamps statuses and group
events; ``monotonic`` (seconds) drives the ack and call windows; both are injectable so tests
are deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from msgspec import UNSET

from core.engine import Emission
from core.payloads import EngineEventPayload
from engines.common.records import BadRecord, NativeRecord
from engines.common.translator import BaseTranslator
from engines.common.waha import DistinctAck, SessionStatusTracker
from engines.noweb.acks import map_message_update, map_receipt
from engines.noweb.calls_labels import CallTracker, LabelStore
from engines.noweb.connection import own_account_from_creds, status_after
from engines.noweb.groups import map_group_update, map_group_upsert, map_participants_update
from engines.noweb.identity import normalize_own_jid
from engines.noweb.message_upsert import map_messages_upsert
from engines.noweb.polls import PollStore
from engines.noweb.presence import PresenceStore, map_presence_update
from engines.noweb.record_shapes import need_list

#: ``BaileysEventMap`` keys (Baileys 6 and 7); any other ``type`` is bad input.
BAILEYS_EVENTS = frozenset({
    "connection.update", "creds.update", "messaging-history.set", "messaging-history.status",
    "chats.upsert", "chats.update", "chats.phoneNumberShare", "chats.delete", "chats.lock",
    "lid-mapping.update", "presence.update", "contacts.upsert", "contacts.update",
    "messages.delete", "messages.update", "messages.media-update", "messages.upsert",
    "messages.reaction", "message-receipt.update", "groups.upsert", "groups.update",
    "group-participants.update", "group.join-request", "group.member-tag.update",
    "blocklist.set", "blocklist.update", "call", "labels.edit", "labels.association",
    "newsletter.reaction", "newsletter.view", "newsletter-participants.update",
    "newsletter-settings.update", "message-capping.update", "settings.update",
})


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class NowebTranslator(BaseTranslator):
    engine = "NOWEB"

    def __init__(self, session: str, me_id: str | None = None, me_lid: str | None = None,
                 me_push_name: str | None = None, *, clock_ms: Callable[[], int] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(session, normalize_own_jid(me_id), normalize_own_jid(me_lid),
                         me_push_name)
        self.clock_ms = clock_ms or _wall_clock_ms
        self.status = SessionStatusTracker(session, self.clock_ms)
        self.acks = DistinctAck(clock=monotonic)
        self.presences = PresenceStore()
        self.polls = PollStore()
        self.labels = LabelStore()
        self.calls = CallTracker(monotonic)

    @property
    def own_ids(self) -> list[str]:
        return [jid for jid in (self.me_id, self.me_lid) if jid]

    def start(self) -> list[Emission]:
        return self.status.set("STARTING")

    def map(self, record: NativeRecord, position: str) -> list[Emission]:
        kind, data = record.type, record.data
        if kind not in BAILEYS_EVENTS:
            raise BadRecord(f"unknown Baileys event type {kind!r}")
        if data is UNSET or data is None:
            raise BadRecord("`data` is missing or null")
        shown = data
        if kind == "connection.update":
            update, status = status_after(data, self.status.status)
            out = self.status.set(status) if status else []
            out.append(Emission("state.change", update))
        elif kind == "creds.update":
            shown, account = own_account_from_creds(data)
            if account is not None:
                self._learn_account(account)
            out = []
        elif kind == "messages.upsert":
            out = map_messages_upsert(
                data, me_lid=self.me_lid, presences=self.presences, polls=self.polls,
                skip_bad=lambda reason, index: self._bad_item(position, kind, index, reason))
        elif kind == "messages.update":
            out = self._per_item(data, kind, position,
                                 lambda item, field: map_message_update(item, field, self.acks,
                                                                        self.polls))
        elif kind == "message-receipt.update":
            out = self._per_item(data, kind, position,
                                 lambda item, field: map_receipt(item, field, self.acks,
                                                                 self.me_id))
        elif kind == "presence.update":
            out = map_presence_update(self.presences, data)
        elif kind == "groups.upsert":
            out = self._per_item(data, kind, position,
                                 lambda item, field: map_group_upsert(item, field, self.clock_ms()))
        elif kind == "groups.update":
            out = self._per_item(data, kind, position,
                                 lambda item, field: map_group_update(item, field, self.clock_ms()))
        elif kind == "group-participants.update":
            out = map_participants_update(data, self.clock_ms(), self.own_ids)
        elif kind == "call":
            out = self._per_item(data, kind, position, self.calls.map_call)
        elif kind == "labels.edit":
            out = self.labels.map_edit(data)
        elif kind == "labels.association":
            out = self.labels.map_association(data)
        else:
            out = []
        out.append(Emission("engine.event", EngineEventPayload(native_event=kind, data=shown)))
        return out

    def _per_item(self, data: Any, kind: str, position: str,
                  map_item: Callable[[Any, str], list[Emission]]) -> list[Emission]:
        """Map each item of an array record on its own; a bad item is skipped and counted."""
        out: list[Emission] = []
        for index, item in enumerate(need_list(data, "data")):
            try:
                out.extend(map_item(item, f"data[{index}]"))
            except BadRecord as exc:
                self._bad_item(position, kind, index, exc.reason)
            except Exception as exc:  # a mapper bug must not cost the other items
                self._bad_item(position, kind, index, f"{type(exc).__name__}: {exc}")
        return out

    def _bad_item(self, position: str, kind: str, index: int, reason: str) -> None:
        self.bad(position, kind, reason, item=index)

    def _learn_account(self, account: dict[str, str | None]) -> None:
        self.me_id = account["id"]
        if account["lid"]:
            self.me_lid = account["lid"]
        if account["name"]:
            self.me_push_name = account["name"]
