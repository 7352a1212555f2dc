"""Bad native input (engine-mapping.md §3): no event, one error log naming the record, the
counter +1, the next record still mapped, the session state untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs
from webjs_records import ALICE, BOB, GROUP, ME, make_translator, message, node_jid, run

DM_ID = "false_22222222222@c.us_AAAAAAAAAAAAAAAA"
OWN = "true_22222222222@c.us_3EB0AAAAAAAAAAAAAAAA"


def rec(record_type: Any, data: Any = ..., **extra: Any) -> str:
    record: dict[str, Any] = {"type": record_type}
    if data is not ...:
        record["data"] = data
    record.update(extra)
    return json.dumps(record)


def with_(msg: dict[str, Any], **changes: Any) -> dict[str, Any]:
    msg = dict(msg)
    for key, value in changes.items():
        if value is ...:
            msg.pop(key, None)
        else:
            msg[key] = value
    return msg


GOOD = message(DM_ID)
OWN_ACKED = message(OWN, from_=ME, to=ALICE, ack=2)
GROUP_NODE_JID = node_jid("123456789-987654321", "g.us")

BAD_LINES: dict[str, tuple[str, str | None]] = {
    # name: (line, record type expected in the log)
    "not json": ("{\"type\": \"message\", ", None),
    "not an object": ("[1, 2, 3]", None),
    "type missing": (json.dumps({"data": GOOD}), None),
    "type not a string": (rec(5, GOOD), None),
    "unknown type": (rec("message_teleport", GOOD), "message_teleport"),
    "data null": (rec("message", None), "message"),
    "data missing": (rec("message"), "message"),
    "message is a string": (rec("message_create", "hello"), "message_create"),
    "message without id": (rec("message", with_(GOOD, id=...)), "message"),
    "message id null": (rec("message", with_(GOOD, id=None)), "message"),
    "id with 2 parts": (rec("message", with_(GOOD, id={"_serialized": "false_abc"})), "message"),
    "id with 5 parts": (rec("message", with_(GOOD, id={"_serialized": "a_b_c_d_e"})), "message"),
    "id serialized a number": (rec("message", with_(GOOD, id={"_serialized": 12})), "message"),
    "from is a number": (rec("message", with_(GOOD, **{"from": 22222222222})), "message"),
    "body is an object": (rec("message", with_(GOOD, body={"text": "x"})), "message"),
    "timestamp is a string": (rec("message", with_(GOOD, timestamp="yesterday")), "message"),
    "vCards not an array": (rec("message", with_(GOOD, vCards="BEGIN:VCARD")), "message"),
    "location lat a string": (rec("message", with_(GOOD, location={
        "latitude": "48.85", "longitude": 2.29})), "message"),
    "ack not an array": (rec("message_ack", OWN_ACKED), "message_ack"),
    "ack array too short": (rec("message_ack", [OWN_ACKED]), "message_ack"),
    "ack of a string": (rec("message_ack", ["msg", 2]), "message_ack"),
    "ack late type error": (rec("message_ack", [with_(OWN_ACKED, to=5), 2]), "message_ack"),
    "revoke after is a string": (rec("message_revoke_everyone", ["x", None]),
                                 "message_revoke_everyone"),
    "edit newBody a number": (rec("message_edit", [GOOD, 5, "old"]), "message_edit"),
    "reaction without msgId": (rec("message_reaction", {
        "id": {"_serialized": f"false_{ALICE}_R", "fromMe": False, "remote": ALICE},
        "timestamp": 1.0, "reaction": "x", "senderId": ALICE}), "message_reaction"),
    "qr is a number": (rec("qr", 42), "qr"),
    "change_state null": (rec("change_state", None), "change_state"),
    "disconnected an object": (rec("disconnected", {"reason": "LOGOUT"}), "disconnected"),
    "chatstate without content": (rec("tag:chatstate", {
        "tag": "chatstate", "attrs": {"from": node_jid("22222222222")}}), "tag:chatstate"),
    "chatstate empty content": (rec("tag:chatstate", {
        "tag": "chatstate", "attrs": {"from": node_jid("22222222222")}, "content": []}),
        "tag:chatstate"),
    "presence from a number": (rec("tag:presence", {
        "tag": "presence", "attrs": {"from": 22222222222}}), "tag:presence"),
    "presence without attrs": (rec("tag:presence", {"tag": "presence"}), "tag:presence"),
    "receipt without id": (rec("tag:receipt", {
        "tag": "receipt", "attrs": {"from": GROUP_NODE_JID, "participant": node_jid("333")}}),
        "tag:receipt"),
    "receipt item without id": (rec("tag:receipt", {
        "tag": "receipt", "attrs": {"from": GROUP_NODE_JID, "participant": node_jid("333"),
                                    "id": "3EB0X", "type": "read"},
        "content": [{"tag": "list", "content": [{"tag": "item", "attrs": {"id": "3EB0Y"}},
                                                 {"tag": "item", "attrs": {}}]}]}),
        "tag:receipt"),
    "group recipients not an array": (rec("group_join", {
        "id": {"remote": GROUP}, "type": "add", "recipientIds": BOB}), "group_join"),
    "group without id": (rec("group_leave", {"type": "leave", "recipientIds": [BOB]}),
                         "group_leave"),
    "group recipient a number": (rec("group_admin_changed", {
        "id": {"remote": GROUP}, "type": "promote", "recipientIds": [33333333333]}),
        "group_admin_changed"),
    "vote without voter": (rec("vote_update", {
        "parentMessage": {"id": {"_serialized": f"false_{ALICE}_P"}}, "selectedOptions": []}),
        "vote_update"),
    "vote with bad poll id": (rec("vote_update", {
        "voter": BOB, "parentMessage": {"id": {"_serialized": "nope"}}}), "vote_update"),
    "chat archived without id": (rec("chat_archived", [{"name": "x"}, True, False]),
                                 "chat_archived"),
    "call is a list": (rec("call", [1, 2]), "call"),
}


def state_of(translator: Any) -> Any:
    return (list(translator.status.history), translator.status.status,
            dict(translator.distinct_ack._seen), translator.last_qr_at)


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_bad_record_is_logged_counted_skipped(name: str) -> None:
    line, record_type = BAD_LINES[name]
    translator = make_translator()
    run(translator, "message_ack", [OWN_ACKED, 2])  # some state to keep
    before = state_of(translator)
    with capture_logs() as logs:
        emissions = translator.translate_line(line, "demo.jsonl:7")
    assert emissions == []
    assert translator.bad_records == 1
    assert len(logs) == 1
    entry = logs[0]
    assert entry["log_level"] == "error"
    assert (entry["engine"], entry["session"], entry["position"]) == ("WEBJS", "default",
                                                                      "demo.jsonl:7")
    assert entry["record_type"] == record_type
    assert entry["error"]
    assert state_of(translator) == before
    # the next record still works
    assert [n for n, _ in run(translator, "message", GOOD)] == ["message", "engine.event"]
    assert translator.bad_records == 1


def test_bad_ack_does_not_poison_distinct_ack() -> None:
    translator = make_translator()
    bad = translator.translate_line(rec("message_ack", [with_(OWN_ACKED, body=7), 2]), "l1")
    good = run(translator, "message_ack", [OWN_ACKED, 2])
    assert bad == []
    assert [n for n, _ in good] == ["message.ack", "engine.event"]


def test_bad_qr_leaves_status_and_qr_time_alone() -> None:
    translator = make_translator()
    translator.translate_line(rec("qr", ["not", "a", "string"]), "l1")
    assert translator.last_qr_at is None
    (_, payload), _ = run(translator, "authenticated", None)
    assert [s["status"] for s in payload["statuses"]] == ["STARTING", "WORKING"]


def test_bad_receipt_item_drops_the_whole_record() -> None:
    translator = make_translator()
    bad = BAD_LINES["receipt item without id"][0]
    assert translator.translate_line(bad, "l1") == []
    node = {"tag": "receipt", "attrs": {"from": GROUP_NODE_JID, "participant": node_jid("333"),
                                        "id": "3EB0X", "type": "read"}}
    assert [n for n, _ in run(translator, "tag:receipt", node)] == ["message.ack.group",
                                                                    "engine.event"]


def test_every_bad_record_counts() -> None:
    translator = make_translator()
    with capture_logs() as logs:
        for line, _ in BAD_LINES.values():
            translator.translate_line(line, "x")
    assert translator.bad_records == len(BAD_LINES) == len(logs)


def test_valid_record_that_maps_to_nothing_is_not_an_error() -> None:
    translator = make_translator()
    with capture_logs() as logs:
        result = run(translator, "tag:receipt", {"tag": "receipt", "attrs": {
            "from": node_jid("22222222222"), "id": "X", "type": "read"}})
    assert [n for n, _ in result] == ["engine.event"]
    assert translator.bad_records == 0
    assert [e for e in logs if e["log_level"] == "error"] == []
