"""Groups on NOWEB (engine-mapping §7.8): ``groups.upsert``, ``groups.update``,
``group-participants.update`` (both participant shapes)."""

from __future__ import annotations

from typing import Any

import pytest

GROUP = "120363041234567890@g.us"
ME = "11111111111@s.whatsapp.net"
ALICE = "22222222222@s.whatsapp.net"


def metadata() -> dict[str, Any]:
    return {"id": GROUP, "addressingMode": "pn", "subject": "Hike 🥾", "subjectOwner": ME,
            "subjectTime": 1700000000, "size": 3, "creation": 1700000000, "owner": ME,
            "desc": "8:00", "restrict": False, "announce": True, "joinApprovalMode": False,
            "memberAddMode": True, "inviteCode": "Fh3kQ9",
            "participants": [{"id": ME, "admin": "superadmin"},
                             {"id": "55555555555@lid", "phoneNumber": ALICE, "admin": "admin"},
                             {"id": "33333333333@s.whatsapp.net", "admin": None}],
            "author": ME}


def test_groups_upsert_gives_v1_join_and_v2_join(noweb, feed, now_ms) -> None:
    group = metadata()
    assert feed(noweb, "groups.upsert", [group]) == [
        {"event": "group.join", "payload": group},
        {"event": "group.v2.join", "payload": {
            "group": {
                "id": GROUP, "subject": "Hike 🥾", "description": "8:00",
                "invite": "https://chat.whatsapp.com/Fh3kQ9",
                "participants": [
                    {"id": "11111111111@c.us", "role": "superadmin"},
                    {"id": "55555555555@lid", "pn": "22222222222@c.us", "role": "admin"},
                    {"id": "33333333333@c.us", "role": "participant"}],
                "membersCanAddNewMember": True, "membersCanSendMessages": True,
                "newMembersApprovalRequired": False},
            "timestamp": now_ms, "_data": group}},
    ]


def test_each_upserted_group_maps_on_its_own(noweb, feed) -> None:
    other = {**metadata(), "id": "120363000000000000@g.us", "participants": []}
    events = feed(noweb, "groups.upsert", [metadata(), other])
    assert [(e["event"], e["payload"].get("id") or e["payload"]["group"]["id"]) for e in events] == [
        ("group.join", GROUP), ("group.v2.join", GROUP),
        ("group.join", other["id"]), ("group.v2.join", other["id"])]
    assert "participants" not in events[3]["payload"]["group"]


def test_groups_update(noweb, feed, now_ms) -> None:
    change = {"id": GROUP, "subject": "Hike 8:00", "author": ME}
    assert feed(noweb, "groups.update", [change]) == [{"event": "group.v2.update", "payload": {
        "timestamp": now_ms, "group": {"id": GROUP, "subject": "Hike 8:00"}, "_data": change}}]


@pytest.mark.parametrize(("action", "kind", "role"), [
    ("add", "join", "participant"), ("remove", "leave", "left"), ("promote", "promote", "admin"),
    ("demote", "demote", "admin"),
])
def test_participant_actions_with_string_participants(noweb, feed, now_ms, action: str,
                                                      kind: str, role: str) -> None:
    update = {"id": GROUP, "author": ME, "participants": [ALICE, "55555555555@lid"],
              "action": action}
    assert feed(noweb, "group-participants.update", update) == [
        {"event": "group.v2.participants", "payload": {
            "group": {"id": GROUP}, "type": kind, "timestamp": now_ms,
            "participants": [{"id": "22222222222@c.us", "pn": "22222222222@c.us", "role": role},
                             {"id": "55555555555@lid", "pn": None, "role": role}],
            "_data": update}}]


def test_modify_has_no_type_and_no_role(noweb, feed) -> None:
    update = {"id": GROUP, "author": ME, "participants": [ALICE], "action": "modify"}
    payload = feed(noweb, "group-participants.update", update)[0]["payload"]
    assert "type" not in payload
    assert payload["participants"] == [{"id": "22222222222@c.us", "pn": "22222222222@c.us"}]


def test_object_participants(noweb, feed) -> None:
    update = {"id": GROUP, "author": ME, "action": "add", "participants": [
        {"id": "55555555555@lid", "phoneNumber": "66666666666@s.whatsapp.net", "admin": None},
        {"id": "77777777777@lid", "admin": None}]}
    payload = feed(noweb, "group-participants.update", update)[0]["payload"]
    assert payload["participants"] == [
        {"id": "55555555555@lid", "pn": "66666666666@c.us", "role": "participant"},
        {"id": "77777777777@lid", "pn": None, "role": "participant"}]


@pytest.mark.parametrize("removed", [
    pytest.param(ME, id="my-pn-string"),
    pytest.param("11111111111:12@s.whatsapp.net", id="my-pn-with-device"),
    pytest.param("44444444444@lid", id="my-lid-string"),
    pytest.param({"id": "44444444444@lid", "phoneNumber": ME}, id="my-lid-object"),
    pytest.param({"id": "99999999999@lid", "phoneNumber": ME}, id="my-pn-in-object"),
])
def test_leave_when_i_am_removed(noweb, feed, now_ms, removed: Any) -> None:
    update = {"id": GROUP, "author": ALICE, "participants": [ALICE, removed], "action": "remove"}
    events = feed(noweb, "group-participants.update", update)
    assert [e["event"] for e in events] == ["group.v2.participants", "group.v2.leave"]
    assert events[1]["payload"] == {"group": {"id": GROUP}, "timestamp": now_ms, "_data": update}


def test_no_leave_when_someone_else_is_removed_or_i_am_added(noweb, feed) -> None:
    others = {"id": GROUP, "author": ME, "participants": [ALICE], "action": "remove"}
    added = {"id": GROUP, "author": ALICE, "participants": [ME], "action": "add"}
    for update in (others, added):
        events = feed(noweb, "group-participants.update", update)
        assert [e["event"] for e in events] == ["group.v2.participants"]


def test_no_leave_while_our_account_is_unknown(make_translator, feed) -> None:
    translator = make_translator(me_id=None, me_lid=None)
    update = {"id": GROUP, "author": ALICE, "participants": [ME], "action": "remove"}
    events = feed(translator, "group-participants.update", update)
    assert [e["event"] for e in events] == ["group.v2.participants"]


def test_noweb_never_gives_v1_group_leave(noweb, feed) -> None:
    update = {"id": GROUP, "author": ALICE, "participants": [ME], "action": "remove"}
    events = feed(noweb, "group-participants.update", update)
    assert not {"group.leave", "group.join"} & {e["event"] for e in events}
