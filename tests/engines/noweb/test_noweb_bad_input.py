"""Bad native input (engine-mapping §3): no event, one error log naming the record, counted,
the next record still maps, and the session state is left alone."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import structlog

ALICE = "22222222222@s.whatsapp.net"
GROUP = "120363041234567890@g.us"


def line(record_type: Any, data: Any = None, **extra: Any) -> bytes:
    return msgspec.json.encode({"type": record_type, "data": data, **extra})


def state(translator: Any) -> Any:
    """Everything a record may change."""
    return (translator.status.status, list(translator.status.history),
            dict(translator.acks._seen), translator.presences.snapshot(),
            dict(translator.polls._options), dict(translator.labels._labels),
            dict(translator.calls.accepted), dict(translator.calls.rejected_at),
            translator.me_id, translator.me_lid, translator.me_push_name)


@pytest.fixture
def seeded(noweb, feed) -> Any:
    """A working session with some state: status WORKING, a typing contact, an ack seen, a
    poll, a label and an accepted call."""
    noweb.start()
    feed(noweb, "connection.update", {"connection": "open"})
    feed(noweb, "presence.update", {"id": ALICE, "presences": {
        ALICE: {"lastKnownPresence": "composing"}}})
    feed(noweb, "messages.update", [{"key": {"remoteJid": ALICE, "fromMe": True, "id": "M"},
                                     "update": {"status": 3}}])
    feed(noweb, "messages.upsert", {"type": "notify", "messages": [{
        "key": {"remoteJid": GROUP, "fromMe": True, "id": "P", "participant": ALICE},
        "message": {"pollCreationMessage": {"name": "?", "options": [{"optionName": "a"}]}}}]})
    feed(noweb, "labels.edit", {"id": "1", "name": "L", "color": 1})
    feed(noweb, "call", [{"chatId": ALICE, "from": ALICE, "id": "C", "date": 0,
                          "status": "accept", "isGroup": False}])
    return noweb


WHOLE_RECORD_BAD = [
    pytest.param(b"{not json", None, id="not-json"),
    pytest.param(b'{"type": "messages.upsert", "data": {"messages": [', None, id="truncated"),
    pytest.param(b"[1, 2]", None, id="not-an-object"),
    pytest.param(msgspec.json.encode({"data": {}}), None, id="missing-type"),
    pytest.param(line(5, {}), None, id="type-not-text"),
    pytest.param(line("message", {"id": {"_serialized": "x"}}), "message", id="webjs-event-type"),
    pytest.param(line("messages.upsertt", {"messages": []}), "messages.upsertt", id="unknown-type"),
    pytest.param(line("messages.upsert", None), "messages.upsert", id="data-null"),
    pytest.param(msgspec.json.encode({"type": "connection.update"}), "connection.update",
                 id="data-missing"),
    pytest.param(line("messages.upsert", {"messages": None, "type": "notify"}), "messages.upsert",
                 id="messages-null"),
    pytest.param(line("messages.upsert", {"messages": "x", "type": "notify"}), "messages.upsert",
                 id="messages-not-a-list"),
    pytest.param(line("messages.upsert", "a string"), "messages.upsert", id="upsert-string"),
    pytest.param(line("messages.update", {"key": {}}), "messages.update", id="update-not-a-list"),
    pytest.param(line("presence.update", {"id": ALICE, "presences": "available"}),
                 "presence.update", id="presences-string"),
    pytest.param(line("presence.update", {"id": ALICE, "presences": None}), "presence.update",
                 id="presences-null"),
    pytest.param(line("presence.update", {"presences": {ALICE: {"lastKnownPresence": "paused"}}}),
                 "presence.update", id="presence-without-id"),
    pytest.param(line("presence.update", {"id": 22222222222, "presences": {}}),
                 "presence.update", id="presence-id-number"),
    pytest.param(line("presence.update", {"id": ALICE, "presences": {ALICE: "composing"}}),
                 "presence.update", id="presence-entry-string"),
    pytest.param(line("presence.update", {"id": ALICE, "presences": {ALICE: {
        "lastKnownPresence": 3}}}), "presence.update", id="presence-value-number"),
    pytest.param(line("connection.update", {"connection": 1}), "connection.update",
                 id="connection-number"),
    pytest.param(line("connection.update", {"connection": "close", "lastDisconnect": "boom"}),
                 "connection.update", id="last-disconnect-string"),
    pytest.param(line("connection.update", {"connection": "close", "lastDisconnect": {
        "error": {"output": {"statusCode": "401"}}}}), "connection.update",
                 id="status-code-string"),
    pytest.param(line("creds.update", {"me": {"id": 11111111111}}), "creds.update",
                 id="creds-me-id-number"),
    pytest.param(line("groups.upsert", {"id": GROUP}), "groups.upsert", id="groups-not-a-list"),
    pytest.param(line("group-participants.update", {"id": GROUP, "participants": ALICE,
                                                    "action": "add"}),
                 "group-participants.update", id="participants-string"),
    pytest.param(line("group-participants.update", {"id": 5, "participants": [],
                                                    "action": "add"}),
                 "group-participants.update", id="group-id-number"),
    pytest.param(line("group-participants.update", {"id": GROUP, "participants": [7],
                                                    "action": "remove"}),
                 "group-participants.update", id="participant-number"),
    pytest.param(line("labels.edit", {"id": 5, "name": "x"}), "labels.edit", id="label-id-number"),
    pytest.param(line("call", {"id": "C"}), "call", id="call-not-a-list"),
]


@pytest.mark.parametrize(("raw", "record_type"), WHOLE_RECORD_BAD)
def test_bad_record(seeded, feed, raw: bytes, record_type: str | None) -> None:
    before, count = state(seeded), seeded.bad_records
    with structlog.testing.capture_logs() as logs:
        assert feed(seeded, "", raw=raw, engine_event=True) == []
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1, logs
    assert errors[0]["engine"] == "NOWEB"
    assert errors[0]["session"] == "default"
    assert errors[0]["position"].startswith("test:")
    assert errors[0]["record_type"] == record_type
    assert errors[0]["error"]
    assert seeded.bad_records == count + 1
    assert state(seeded) == before
    # the next record still works
    events = feed(seeded, "presence.update", {"id": ALICE, "presences": {
        ALICE: {"lastKnownPresence": "available"}}})
    assert [e["event"] for e in events] == ["presence.update"]


def good_message(msg_id: str) -> dict[str, Any]:
    return {"key": {"remoteJid": ALICE, "fromMe": False, "id": msg_id},
            "messageTimestamp": 1700000000, "message": {"conversation": msg_id}}


BAD_ITEMS = [
    pytest.param("messages.upsert", {"messageTimestamp": 1, "message": {"conversation": "x"}},
                 id="message-without-key"),
    pytest.param("messages.upsert", {"key": {"remoteJid": 22222222222, "id": "X"},
                                     "message": {"conversation": "x"}}, id="remote-jid-number"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "fromMe": False},
                                     "message": {"conversation": "x"}}, id="key-without-id"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "id": "X"},
                                     "messageTimestamp": "yesterday",
                                     "message": {"conversation": "x"}}, id="timestamp-text"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "id": "X"},
                                     "message": "hello"}, id="message-string"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "id": "X"}, "status": "READ",
                                     "message": {"conversation": "x"}}, id="status-text"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "id": "X"},
                                     "message": {"conversation": 5}}, id="body-number"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "id": "X"},
                                     "message": {"reactionMessage": {"text": "x"}}},
                 id="reaction-without-key"),
    pytest.param("messages.upsert", {"key": {"remoteJid": ALICE, "id": "X"},
                                     "message": {"contactsArrayMessage": {"displayName": "x"}}},
                 id="contacts-without-list"),
    pytest.param("messages.upsert", "just text", id="item-string"),
]


@pytest.mark.parametrize(("record_type", "bad_item"), BAD_ITEMS)
def test_bad_message_is_skipped_and_the_others_still_map(seeded, feed, record_type: str,
                                                         bad_item: Any) -> None:
    before, count = state(seeded), seeded.bad_records
    data = {"type": "notify", "messages": [good_message("FIRST"), bad_item, good_message("LAST")]}
    with structlog.testing.capture_logs() as logs:
        events = feed(seeded, record_type, data)
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1 and errors[0]["item"] == 1 and errors[0]["record_type"] == record_type
    assert seeded.bad_records == count + 1
    # FIRST and LAST came from the typing contact: the synthetic presence appears once
    assert [(e["event"], e["payload"].get("body")) for e in events] == [
        ("presence.update", None), ("message", "FIRST"), ("message.any", "FIRST"),
        ("message", "LAST"), ("message.any", "LAST")]
    assert state(seeded) != before  # the good ones did change the presence store


def my_ack(msg_id: str, status: int) -> dict[str, Any]:
    return {"key": {"remoteJid": ALICE, "fromMe": True, "id": msg_id}, "update": {"status": status}}


@pytest.mark.parametrize("bad_item", [
    pytest.param({"key": {"remoteJid": ALICE, "fromMe": True, "id": "B"}, "update": None},
                 id="update-null"),
    pytest.param({"key": {"remoteJid": ALICE, "fromMe": True, "id": "B"}}, id="update-missing"),
    pytest.param({"update": {"status": 4}}, id="key-missing"),
    pytest.param({"key": {"remoteJid": ALICE, "fromMe": True, "id": "B"},
                  "update": {"status": "4"}}, id="status-text"),
    pytest.param(None, id="item-null"),
])
def test_bad_update_is_skipped(seeded, feed, bad_item: Any) -> None:
    seen_before, count = dict(seeded.acks._seen), seeded.bad_records
    with structlog.testing.capture_logs() as logs:
        events = feed(seeded, "messages.update", [my_ack("A", 4), bad_item, my_ack("C", 4)])
    assert [e["payload"]["id"] for e in events] == ["true_22222222222@c.us_A",
                                                    "true_22222222222@c.us_C"]
    assert len([entry for entry in logs if entry["log_level"] == "error"]) == 1
    assert seeded.bad_records == count + 1
    added = set(seeded.acks._seen) - set(seen_before)
    assert sorted(added) == ["true_22222222222@c.us_A-3-undefined",
                            "true_22222222222@c.us_C-3-undefined"]


@pytest.mark.parametrize("bad_item", [
    pytest.param({"key": {"remoteJid": GROUP, "id": "G", "fromMe": True}, "receipt": None},
                 id="receipt-null"),
    pytest.param({"key": {"remoteJid": GROUP, "id": 7, "fromMe": True},
                  "receipt": {"readTimestamp": 1}}, id="id-number"),
])
def test_bad_receipt_is_skipped(seeded, feed, bad_item: Any) -> None:
    good = {"key": {"remoteJid": GROUP, "id": "G", "fromMe": True, "participant": ALICE},
            "receipt": {"userJid": ALICE, "readTimestamp": 1}}
    count = seeded.bad_records
    events = feed(seeded, "message-receipt.update", [bad_item, good])
    assert [e["event"] for e in events] == ["message.ack.group"]
    assert seeded.bad_records == count + 1


def test_bad_group_in_upsert_is_skipped(seeded, feed) -> None:
    count = seeded.bad_records
    events = feed(seeded, "groups.upsert", [{"subject": "no id"}, {"id": GROUP, "subject": "ok"}])
    assert [e["event"] for e in events] == ["group.join", "group.v2.join"]
    assert seeded.bad_records == count + 1


def test_bad_call_item_is_skipped_and_leaves_calls_alone(seeded, feed) -> None:
    before, count = state(seeded), seeded.bad_records
    events = feed(seeded, "call", [{"id": "C", "status": "terminate", "from": ALICE,
                                    "date": "not a date"}])
    assert events == [] and seeded.bad_records == count + 1
    assert state(seeded) == before  # the accepted call is still remembered
