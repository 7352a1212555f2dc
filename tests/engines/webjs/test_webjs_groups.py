"""WEBJS group notifications: v1 ``group.join``/``group.leave``, ``group.v2.participants``,
``group.v2.leave`` (engine-mapping.md §6.3)."""

from __future__ import annotations

from typing import Any

import pytest
from webjs_records import BOB, GROUP, ME, make_translator, run, wid, without_engine_event

CAROL = "55555555555@c.us"


def notification(subtype: str, recipients: list[Any], author: str = BOB) -> dict[str, Any]:
    return {"id": {"fromMe": False, "remote": GROUP, "id": "1700000300", "participant": wid(author),
                   "_serialized": f"false_{GROUP}_1700000300_{author}"},
            "body": "", "type": subtype, "timestamp": 1700000300, "chatId": GROUP,
            "author": author, "recipientIds": recipients}


def participants(change: str, role: str, n: dict[str, Any], ids: list[str]) -> tuple[str, Any]:
    return ("group.v2.participants", {"group": {"id": GROUP}, "type": change,
                                      "timestamp": 1700000300,
                                      "participants": [{"id": i, "role": role} for i in ids],
                                      "_data": n})


@pytest.mark.parametrize("subtype", ["add", "invite", "linked_group_join"])
def test_group_join_gives_raw_v1_and_v2_participants(subtype: str) -> None:
    n = notification(subtype, [CAROL])
    assert without_engine_event(run(make_translator(), "group_join", n)) == [
        ("group.join", n), participants("join", "participant", n, [CAROL])]


def test_group_join_of_me_gives_no_v2_join_it_needs_live_lookups() -> None:
    n = notification("add", [ME])
    names = [name for name, _ in without_engine_event(run(make_translator(), "group_join", n))]
    assert names == ["group.join", "group.v2.participants"]


@pytest.mark.parametrize("subtype", ["remove", "leave"])
def test_group_leave_of_someone_else(subtype: str) -> None:
    n = notification(subtype, [CAROL])
    assert without_engine_event(run(make_translator(), "group_leave", n)) == [
        ("group.leave", n), participants("leave", "left", n, [CAROL])]


def test_group_leave_of_me_adds_v2_leave() -> None:
    n = notification("remove", [ME, CAROL])
    assert without_engine_event(run(make_translator(), "group_leave", n)) == [
        ("group.leave", n),
        ("group.v2.leave", {"group": {"id": GROUP}, "timestamp": 1700000300, "_data": n}),
        participants("leave", "left", n, [ME, CAROL])]


def test_group_leave_without_me_id_gives_no_v2_leave() -> None:
    n = notification("remove", [ME])
    names = [name for name, _ in without_engine_event(
        run(make_translator(me_id=None), "group_leave", n))]
    assert names == ["group.leave", "group.v2.participants"]


@pytest.mark.parametrize(("subtype", "change", "role"), [("promote", "promote", "admin"),
                                                         ("demote", "demote", "participant")])
def test_admin_changed_gives_only_v2_participants(subtype: str, change: str, role: str) -> None:
    n = notification(subtype, [CAROL])
    assert without_engine_event(run(make_translator(), "group_admin_changed", n)) == [
        participants(change, role, n, [CAROL])]


def test_wid_recipients_are_read_by_serialized() -> None:
    n = notification("add", [wid(CAROL)])
    result = without_engine_event(run(make_translator(), "group_join", n))
    assert result[1] == participants("join", "participant", n, [CAROL])
    assert result[0] == ("group.join", n)  # v1 stays raw


def test_unknown_notification_type_gives_no_v2_participants() -> None:
    n = notification("subject", [])
    assert without_engine_event(run(make_translator(), "group_join", n)) == [("group.join", n)]


@pytest.mark.parametrize("native", ["group_update", "group_membership_request"])
def test_group_update_gives_only_engine_event(native: str) -> None:
    n = notification("subject", [])
    assert run(make_translator(), native, n) == [("engine.event", {"event": native, "data": n})]
