"""Groups on NOWEB (§7.8), following the newer upstream ``groups.noweb.ts``.

* ``groups.upsert`` (Baileys: a group ``create`` notification) → per group ``group.join`` (v1,
  the raw ``GroupMetadata``) then ``group.v2.join`` ``{timestamp, group: GroupInfo, _data}``.
* ``groups.update`` → per item ``group.v2.update`` ``{timestamp, group: GroupInfo, _data}``.
* ``group-participants.update`` → ``group.v2.participants``, then ``group.v2.leave`` when the
  action is ``remove`` and we are among the participants (by ``me.id`` or ``me.lid``). Both
  participant shapes are read: JID strings and Baileys 7 objects ``{id, phoneNumber?, …}``.
  NOWEB never emits v1 ``group.leave``.

``timestamp`` is the translator's clock in ms (WAHA: ``Date.now()``).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.engine import Emission
from core.payloads import (
    GroupId,
    GroupParticipant,
    GroupV2JoinPayload,
    GroupV2LeavePayload,
    GroupV2ParticipantsPayload,
)
from engines.common.records import BadRecord
from engines.common.waha import to_cus_format
from engines.noweb.content import cus
from engines.noweb.identity import is_own, is_pn_user
from engines.noweb.js_semantics import js_truthy
from engines.noweb.payloads import GroupInfo, GroupV2UpdatePayload
from engines.noweb.record_shapes import describe, need_list, need_object, need_str, present

#: ``action`` → (``type``, ``role``); ``demote`` gives ``admin`` (sic, WAHA); others neither.
PARTICIPANT_ACTIONS = {
    "add": ("join", "participant"),
    "remove": ("leave", "left"),
    "promote": ("promote", "admin"),
    "demote": ("demote", "admin"),
}
_ADMIN_ROLES = {"admin": "admin", "superadmin": "superadmin"}


def invite_link(code: str) -> str:
    return code if code.startswith("https://") else f"https://chat.whatsapp.com/{code}"


def group_participant(value: Any, field: str) -> GroupParticipant:
    """WAHA ``ToGroupParticipant`` of a metadata participant."""
    participant = need_object(value, field)
    phone = participant.get("phoneNumber", UNSET)
    admin = participant.get("admin")
    return GroupParticipant(id=to_cus_format(need_str(participant.get("id"), f"{field}.id")),
                            pn=cus(phone),
                            role=_ADMIN_ROLES.get(admin, "participant") if isinstance(admin, str)
                            else "participant")


def group_info(value: Any, field: str) -> GroupInfo:
    """WAHA ``ToGroupInfo`` of a (partial) ``GroupMetadata``."""
    group = need_object(value, field)
    code = group.get("inviteCode", UNSET)
    raw_participants = group.get("participants", UNSET)
    participants: Any = UNSET
    if present(raw_participants):
        listed = need_list(raw_participants, f"{field}.participants")
        if listed:
            participants = [group_participant(p, f"{field}.participants[{i}]")
                            for i, p in enumerate(listed)]
    return GroupInfo(
        id=group.get("id", UNSET),
        subject=group.get("subject", UNSET),
        description=group.get("desc", UNSET),
        invite=invite_link(need_str(code, f"{field}.inviteCode")) if js_truthy(code) else UNSET,
        participants=participants,
        membersCanAddNewMember=group.get("memberAddMode", UNSET),
        membersCanSendMessages=group.get("announce", UNSET),
        newMembersApprovalRequired=group.get("joinApprovalMode", UNSET),
    )


def map_group_upsert(item: Any, field: str, now_ms: int) -> list[Emission]:
    group = need_object(item, field)
    need_str(group.get("id"), f"{field}.id")
    info = group_info(group, field)
    return [Emission("group.join", group),
            Emission("group.v2.join", GroupV2JoinPayload(group=info, timestamp=now_ms, data=group))]


def map_group_update(item: Any, field: str, now_ms: int) -> list[Emission]:
    info = group_info(item, field)
    return [Emission("group.v2.update", GroupV2UpdatePayload(timestamp=now_ms, group=info,
                                                             data=item))]


def _participant_ids(value: Any, field: str) -> tuple[str, Any, list[str]]:
    """(id, pn, ids to compare with ours) of a string or object participant."""
    if isinstance(value, str):
        return value, value if is_pn_user(value) else None, [value]
    participant = need_object(value, field)
    jid = need_str(participant.get("id"), f"{field}.id")
    phone = participant.get("phoneNumber")
    if present(phone):
        need_str(phone, f"{field}.phoneNumber")
    phone = phone if js_truthy(phone) else None
    return jid, phone, [i for i in (jid, phone) if i]


def map_participants_update(data: Any, now_ms: int, own_ids: list[str]) -> list[Emission]:
    update = need_object(data, "data")
    group_id = to_cus_format(need_str(update.get("id"), "data.id"))
    action = update.get("action")
    if not isinstance(action, str):
        raise BadRecord(f"data.action: expected text, got {describe(action)}")
    listed = need_list(update.get("participants"), "data.participants")
    kind, role = PARTICIPANT_ACTIONS.get(action, (UNSET, UNSET))
    participants = []
    includes_me = False
    for index, value in enumerate(listed):
        jid, phone, ids = _participant_ids(value, f"data.participants[{index}]")
        participants.append(GroupParticipant(id=to_cus_format(jid), pn=to_cus_format(phone),
                                             role=role))
        includes_me = includes_me or any(is_own(i, own_ids) for i in ids)
    out = [Emission("group.v2.participants", GroupV2ParticipantsPayload(
        group=GroupId(id=group_id), type=kind, timestamp=now_ms, participants=participants,
        data=update))]
    if action == "remove" and includes_me:
        out.append(Emission("group.v2.leave", GroupV2LeavePayload(
            group=GroupId(id=group_id), timestamp=now_ms, data=update)))
    return out
