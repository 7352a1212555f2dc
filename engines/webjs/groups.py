"""WEBJS group notifications (mapping doc §6.3, WAHA ``groups.webjs.ts``).

- v1 ``group.join``/``group.leave`` carry the raw ``GroupNotification`` unchanged.
- ``group.v2.participants``: ``{group: {id: n.id.remote}, type, timestamp, participants:
  [{id, role}], _data: n}`` by the notification type: ``add``/``invite``/``linked_group_join``
  → ``join``/``participant``; ``remove``/``leave`` → ``leave``/``left``; ``promote`` →
  ``promote``/``admin``; ``demote`` → ``demote``/``participant``; other types → none.
- ``group.v2.leave`` (``group_leave`` only): ``{timestamp, group: {id}, _data}`` when the
  session's own ``me_id`` is among ``recipientIds``; nothing when ``me_id`` is unknown.

Not emitted, because they need live lookups a translator of recorded events cannot make:
``group.v2.join`` (WAHA calls ``getChatById`` and ``getInviteCode`` to build the group info
when I am among the joined) and ``group.v2.update`` (from ``group_update``, same lookups).
Those notifications still reach receivers as ``group.join`` (v1) and ``engine.event``.

``recipientIds`` are read as JID strings, the documented form, or Wid objects by their
``_serialized`` (newer WA Web); ``id.remote`` likewise.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.payloads import (
    GroupId,
    GroupParticipant,
    GroupV2LeavePayload,
    GroupV2ParticipantsPayload,
)
from engines.common.records import BadRecord
from engines.webjs.jids import wid_string
from engines.webjs.jsvalues import number_or_bad, object_or_bad, type_name

#: notification type → (``type``, role of every recipient)
_PARTICIPANT_CHANGES = {
    "add": ("join", "participant"),
    "invite": ("join", "participant"),
    "linked_group_join": ("join", "participant"),
    "remove": ("leave", "left"),
    "leave": ("leave", "left"),
    "promote": ("promote", "admin"),
    "demote": ("demote", "participant"),
}


class GroupNotification:
    """The fields of a ``GroupNotification`` the v2 payloads read, checked once."""

    def __init__(self, raw: Any, what: str) -> None:
        self.raw = object_or_bad(raw, what)
        msg_id = object_or_bad(self.raw.get("id", UNSET), f"{what}.id")
        remote = wid_string(msg_id.get("remote", UNSET), f"{what}.id.remote")
        if not isinstance(remote, str) or not remote:
            raise BadRecord(f"{what}: id.remote is missing")
        self.group_id: str = remote
        recipients = self.raw.get("recipientIds", UNSET)
        if not isinstance(recipients, list):
            raise BadRecord(f"{what}.recipientIds: expected an array, got {type_name(recipients)}")
        self.recipients: list[str] = []
        for index, recipient in enumerate(recipients):
            jid = wid_string(recipient, f"{what}.recipientIds[{index}]")
            if not isinstance(jid, str):
                raise BadRecord(f"{what}.recipientIds[{index}]: expected a JID, "
                                f"got {type_name(jid)}")
            self.recipients.append(jid)
        self.type = self.raw.get("type", UNSET)
        # Absent stays absent: the payloads' annotation lacks UnsetType, msgspec omits UNSET.
        self.timestamp = number_or_bad(self.raw.get("timestamp", UNSET), f"{what}.timestamp")


def participants_payload(notification: GroupNotification) -> GroupV2ParticipantsPayload | None:
    kind = notification.type
    change = _PARTICIPANT_CHANGES.get(kind) if isinstance(kind, str) else None
    if change is None:
        return None
    change_type, role = change
    return GroupV2ParticipantsPayload(
        group=GroupId(id=notification.group_id),
        type=change_type,
        timestamp=notification.timestamp,
        participants=[GroupParticipant(id=jid, role=role) for jid in notification.recipients],
        data=notification.raw,
    )


def leave_payload(notification: GroupNotification, me_id: str | None) -> GroupV2LeavePayload | None:
    if not me_id or me_id not in notification.recipients:
        return None
    return GroupV2LeavePayload(group=GroupId(id=notification.group_id),
                               timestamp=notification.timestamp, data=notification.raw)

