"""``messages.update`` → ``message.ack``; ``message-receipt.update`` → ``message.ack.group``
(engine-mapping §4.3, §7.3); ``DistinctAck``."""

from __future__ import annotations

from typing import Any

import pytest

ALICE = "22222222222@s.whatsapp.net"
GROUP = "123456789-987654321@g.us"
MY_DM_KEY = {"remoteJid": ALICE, "fromMe": True, "id": "3EB0MINE"}


def status_update(key: dict[str, Any], status: Any) -> list[dict[str, Any]]:
    return [{"key": key, "update": {"status": status, "messageTimestamp": 1700000000}}]


@pytest.mark.parametrize(("status", "ack", "name"), [
    (0, -1, "ERROR"), (1, 0, "PENDING"), (2, 1, "SERVER"), (3, 2, "DEVICE"), (4, 3, "READ"),
    (5, 4, "PLAYED"), (9, 8, "UNKNOWN"),
])
def test_ack_of_my_dm(noweb, feed, status: int, ack: int, name: str) -> None:
    assert feed(noweb, "messages.update", status_update(MY_DM_KEY, status)) == [
        {"event": "message.ack", "payload": {"id": "true_22222222222@c.us_3EB0MINE",
                                             "from": "22222222222@c.us", "fromMe": True,
                                             "ack": ack, "ackName": name}}]


def test_ack_of_my_group_message_is_not_filtered(noweb, feed) -> None:
    key = {"remoteJid": GROUP, "fromMe": True, "id": "G1",
           "participant": "11111111111:3@s.whatsapp.net"}
    assert feed(noweb, "messages.update", status_update(key, 4)) == [
        {"event": "message.ack", "payload": {
            "id": "true_123456789-987654321@g.us_G1_11111111111@c.us", "from": GROUP,
            "fromMe": True, "to": GROUP, "participant": "11111111111@c.us", "ack": 3,
            "ackName": "READ"}}]


def test_no_ack_for_others_messages_or_updates_without_status(noweb, feed) -> None:
    theirs = {"remoteJid": ALICE, "fromMe": False, "id": "THEIRS"}
    assert feed(noweb, "messages.update", status_update(theirs, 4)) == []
    assert feed(noweb, "messages.update", [{"key": MY_DM_KEY, "update": {"starred": True}}]) == []
    assert feed(noweb, "messages.update", status_update(MY_DM_KEY, None)) == []


def test_repeated_ack_is_dropped_for_a_minute(noweb, feed, clock) -> None:
    assert len(feed(noweb, "messages.update", status_update(MY_DM_KEY, 4))) == 1
    clock.now += 59.9
    assert feed(noweb, "messages.update", status_update(MY_DM_KEY, 4)) == []
    assert len(feed(noweb, "messages.update", status_update(MY_DM_KEY, 5))) == 1
    clock.now += 0.2
    assert len(feed(noweb, "messages.update", status_update(MY_DM_KEY, 4))) == 1


def test_repeat_inside_one_record_is_dropped(noweb, feed) -> None:
    twice = status_update(MY_DM_KEY, 3) * 2
    assert len(feed(noweb, "messages.update", twice)) == 1


def receipt(receipt_fields: dict[str, Any], *, reader: str = ALICE, from_me: bool = True,
            msg_id: str = "G1") -> dict[str, Any]:
    return {"key": {"remoteJid": GROUP, "id": msg_id, "fromMe": from_me, "participant": reader},
            "receipt": {"userJid": reader, **receipt_fields}}


def test_group_read_receipt(noweb, feed) -> None:
    item = receipt({"readTimestamp": 1700000300})
    assert feed(noweb, "message-receipt.update", [item]) == [{"event": "message.ack.group", "payload": {
        "id": "true_123456789-987654321@g.us_G1_11111111111@c.us", "from": GROUP, "fromMe": True,
        "to": GROUP, "participant": "22222222222@c.us", "ack": 3, "ackName": "READ",
        "_data": item}}]


@pytest.mark.parametrize(("fields", "ack", "name"), [
    ({"receiptTimestamp": 1700000300}, 1, "SERVER"),
    ({"receiptTimestamp": {"low": 1, "high": 0, "unsigned": True}, "readTimestamp": 5}, 1,
     "SERVER"),
    ({"playedTimestamp": "1700000300", "readTimestamp": 1700000200}, 4, "PLAYED"),
    ({"readTimestamp": 1700000300}, 3, "READ"),
])
def test_receipt_kinds(noweb, feed, fields: dict[str, Any], ack: int, name: str) -> None:
    payload = feed(noweb, "message-receipt.update", [receipt(fields)])[0]["payload"]
    assert (payload["ack"], payload["ackName"]) == (ack, name)


def test_receipt_without_a_timestamp_is_unknown(noweb, feed) -> None:
    payload = feed(noweb, "message-receipt.update", [receipt({})])[0]["payload"]
    assert "ack" not in payload and payload["ackName"] == "UNKNOWN"


def test_no_group_ack_for_others_messages(noweb, feed) -> None:
    assert feed(noweb, "message-receipt.update", [receipt({"readTimestamp": 1}, from_me=False)]) == []


def test_group_ack_without_own_account_has_a_three_part_id(make_translator, feed) -> None:
    translator = make_translator(me_id=None, me_lid=None)
    payload = feed(translator, "message-receipt.update", [receipt({"readTimestamp": 1})])[0]["payload"]
    assert payload["id"] == "true_123456789-987654321@g.us_G1"


def test_group_receipts_are_deduplicated_per_reader(noweb, feed) -> None:
    items = [receipt({"readTimestamp": 1}), receipt({"readTimestamp": 2}),
             receipt({"readTimestamp": 1}, reader="33333333333@s.whatsapp.net")]
    payloads = [e["payload"] for e in feed(noweb, "message-receipt.update", items)]
    assert [p["participant"] for p in payloads] == ["22222222222@c.us", "33333333333@c.us"]
