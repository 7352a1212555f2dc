"""WEBJS acks: ``message_ack`` → ``message.ack`` (DM only, DistinctAck) and ``tag:receipt`` →
``message.ack.group`` (engine-mapping.md §4.3, §6.3, §11.2)."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs
from webjs_records import (
    ALICE,
    BOB,
    GROUP,
    ME,
    FakeClock,
    expected_message,
    make_translator,
    message,
    node_jid,
    run,
    without_engine_event,
)

OWN_DM = "true_22222222222@c.us_3EB0AAAAAAAAAAAAAAAA"
OWN_GROUP_ID = "3EB0BBBBBBBBBBBBBBBB"


def own_dm(ack: Any) -> dict[str, Any]:
    return message(OWN_DM, from_=ME, to=ALICE, ack=ack)


def test_dm_ack_is_the_full_message_payload_without_media() -> None:
    msg = message(OWN_DM, from_=ME, to=ALICE, ack=2, has_media=True,
                  data_extra={"mimetype": "image/jpeg"})
    assert without_engine_event(run(make_translator(), "message_ack", [msg, 2])) == [
        ("message.ack", expected_message(msg, hasMedia=True))]


def test_acks_progress_server_device_read() -> None:
    translator = make_translator()
    names = []
    for ack in (1, 2, 3):
        (name, payload), = without_engine_event(run(translator, "message_ack", [own_dm(ack), ack]))
        names.append((name, payload["ack"], payload["ackName"]))
    assert names == [("message.ack", 1, "SERVER"), ("message.ack", 2, "DEVICE"),
                     ("message.ack", 3, "READ")]


def test_message_ack_reads_msg_ack_not_the_argument() -> None:
    (_, payload), = without_engine_event(run(make_translator(), "message_ack", [own_dm(3), 2]))
    assert (payload["ack"], payload["ackName"]) == (3, "READ")


def test_argument_is_the_fallback_when_the_message_has_no_ack() -> None:
    msg = own_dm(1)
    del msg["ack"]
    (_, payload), = without_engine_event(run(make_translator(), "message_ack", [msg, 4]))
    assert (payload["ack"], payload["ackName"]) == (4, "PLAYED")


def test_unknown_ack_number_is_kept_with_unknown_name() -> None:
    (_, payload), = without_engine_event(run(make_translator(), "message_ack", [own_dm(11), 11]))
    assert (payload["ack"], payload["ackName"]) == (11, "UNKNOWN")


@pytest.mark.parametrize("to", [GROUP, "status@broadcast"])
def test_group_and_status_acks_are_not_message_ack(to: str) -> None:
    msg = message(f"true_{to}_3EB0CCCCCCCCCCCCCCCC_{ME}", from_=ME, to=to, ack=2)
    assert without_engine_event(run(make_translator(), "message_ack", [msg, 2])) == []


def test_repeated_ack_within_60_seconds_is_dropped_then_allowed_again() -> None:
    clock = FakeClock(100.0)
    translator = make_translator(acks=clock)
    first = without_engine_event(run(translator, "message_ack", [own_dm(2), 2]))
    clock.now = 159.0
    repeat = run(translator, "message_ack", [own_dm(2), 2])
    clock.now = 161.0
    later = without_engine_event(run(translator, "message_ack", [own_dm(2), 2]))
    assert [n for n, _ in first] == ["message.ack"]
    assert [n for n, _ in repeat] == ["engine.event"]
    assert [n for n, _ in later] == ["message.ack"]


def receipt(reader: str | None, type_: str | None = None, *, chat: str = GROUP,
            msg_id: str = OWN_GROUP_ID, content: Any = None, **attrs: Any) -> dict[str, Any]:
    user, server = chat.split("@")
    node_attrs: dict[str, Any] = {"from": node_jid(user, server), "id": msg_id, "t": "1700000200"}
    if reader is not None:
        node_attrs["participant"] = node_jid(reader.split("@")[0])
    if type_ is not None:
        node_attrs["type"] = type_
    node_attrs.update(attrs)
    node: dict[str, Any] = {"tag": "receipt", "attrs": node_attrs}
    if content is not None:
        node["content"] = content
    return node


def group_ack(reader: str, ack: int, ack_name: str, node: dict[str, Any],
              msg_id: str = OWN_GROUP_ID) -> dict[str, Any]:
    return {"id": f"true_{GROUP}_{msg_id}_{ME}", "from": GROUP, "fromMe": False, "to": GROUP,
            "participant": reader, "ack": ack, "ackName": ack_name, "_data": node}


@pytest.mark.parametrize(("type_", "ack", "ack_name"), [
    (None, 2, "DEVICE"), ("read", 3, "READ"), ("read-self", 3, "READ"),
    ("played", 4, "PLAYED"), ("sender", 1, "SERVER")])
def test_group_receipt_gives_message_ack_group(type_: str | None, ack: int, ack_name: str) -> None:
    node = receipt(BOB, type_)
    assert without_engine_event(run(make_translator(), "tag:receipt", node)) == [
        ("message.ack.group", group_ack(BOB, ack, ack_name, node))]


def test_receipt_items_give_one_ack_per_message_id() -> None:
    content = [{"tag": "list", "attrs": {}, "content": [
        {"tag": "item", "attrs": {"id": "3EB0DDDDDDDDDDDDDDDD"}},
        {"tag": "item", "attrs": {"id": "3EB0EEEEEEEEEEEEEEEE"}}]}]
    node = receipt(BOB, "read", content=content)
    result = without_engine_event(run(make_translator(), "tag:receipt", node))
    assert [p["id"] for _, p in result] == [
        f"true_{GROUP}_{i}_{ME}"
        for i in (OWN_GROUP_ID, "3EB0DDDDDDDDDDDDDDDD", "3EB0EEEEEEEEEEEEEEEE")]


def test_status_receipt_is_a_group_ack() -> None:
    node = receipt(BOB, "read", chat="status@broadcast")
    (_, payload), = without_engine_event(run(make_translator(), "tag:receipt", node))
    assert payload["id"] == f"true_status@broadcast_{OWN_GROUP_ID}_{ME}"
    assert (payload["to"], payload["participant"]) == ("status@broadcast", BOB)


def test_dm_receipt_gives_no_group_ack() -> None:
    user = ALICE.split("@")[0]
    node = {"tag": "receipt", "attrs": {"from": node_jid(user), "id": "3EB0FFFFFFFFFFFFFFFF",
                                        "type": "read"}}
    assert without_engine_event(run(make_translator(), "tag:receipt", node)) == []


def test_receipt_type_without_status_gives_nothing() -> None:
    assert without_engine_event(run(make_translator(), "tag:receipt", receipt(BOB, "retry"))) == []


def test_receipt_from_another_device_of_mine_about_someone_elses_message() -> None:
    node = receipt(BOB, "read", recipient=node_jid("33333333333"))
    (_, payload), = without_engine_event(run(make_translator(), "tag:receipt", node))
    # recipient set: fromMe of the key is false (inverted: true), participant is me
    assert payload == {"id": f"false_{GROUP}_{OWN_GROUP_ID}_{BOB}", "from": GROUP, "fromMe": True,
                       "to": GROUP, "participant": ME, "ack": 3, "ackName": "READ", "_data": node}


def test_lid_group_receipt_uses_me_lid() -> None:
    node = {"tag": "receipt", "attrs": {"from": node_jid("123456789-987654321", "g.us"),
                                        "participant": node_jid("55555555555", None, domainType=1),
                                        "id": OWN_GROUP_ID, "type": "read",
                                        "addressing_mode": "lid"}}
    # from is a group: not a lid chat, so the key participant is me_id; the reader is @lid
    (_, payload), = without_engine_event(run(make_translator(), "tag:receipt", node))
    assert payload["participant"] == "55555555555@lid"
    assert payload["id"] == f"true_{GROUP}_{OWN_GROUP_ID}_{ME}"


def test_grouped_receipt_gives_one_ack_per_user() -> None:
    key = "3EB0AB12AB12AB12AB12"
    content = [{"tag": "participants", "attrs": {"key": key}, "content": [
        {"tag": "user", "attrs": {"jid": node_jid("33333333333")}},
        {"tag": "user", "attrs": {"jid": node_jid("55555555555")}}]}]
    node = receipt(None, "read", content=content)
    result = without_engine_event(run(make_translator(), "tag:receipt", node))
    assert result == [
        ("message.ack.group", group_ack(BOB, 3, "READ", node, key)),
        ("message.ack.group", group_ack("55555555555@c.us", 3, "READ", node, key))]


def test_group_ack_repeats_are_dropped_by_distinct_ack() -> None:
    translator = make_translator()
    first = without_engine_event(run(translator, "tag:receipt", receipt(BOB, "read")))
    again = without_engine_event(run(translator, "tag:receipt", receipt(BOB, "read")))
    other_reader = without_engine_event(run(translator, "tag:receipt",
                                            receipt("55555555555@c.us", "read")))
    delivered = without_engine_event(run(translator, "tag:receipt", receipt(BOB)))
    assert (len(first), len(again), len(other_reader), len(delivered)) == (1, 0, 1, 1)


def test_group_receipt_without_my_jid_gives_a_warning_and_no_ack() -> None:
    translator = make_translator(me_id=None, me_lid=None)
    with capture_logs() as logs:
        result = run(translator, "tag:receipt", receipt(BOB, "read"))
    assert [n for n, _ in result] == ["engine.event"]
    assert translator.bad_records == 0
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert logs[0]["event_name"] == "message.ack.group"
