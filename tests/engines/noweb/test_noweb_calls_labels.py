"""``call`` → ``call.*`` and ``labels.*`` → ``label.*``."""

from __future__ import annotations

from typing import Any

ALICE = "22222222222@s.whatsapp.net"
GROUP = "120363041234567890@g.us"


def call(status: str, **extra: Any) -> dict[str, Any]:
    return {"chatId": ALICE, "from": "22222222222:5@s.whatsapp.net", "id": "CALL1",
            "date": "2025-11-25T09:15:00.000Z", "status": status, "offline": False,
            "isVideo": False, "isGroup": False, **extra}


def test_offer_is_call_received(noweb, feed) -> None:
    offer = call("offer")
    assert feed(noweb, "call", [offer]) == [{"event": "call.received", "payload": {
        "id": "CALL1", "from": "22222222222@c.us", "timestamp": 1764062100, "isVideo": False,
        "isGroup": False, "_data": offer}}]


def test_timestamp_keeps_milliseconds(noweb, feed) -> None:
    payload = feed(noweb, "call", [call("offer", date="2025-11-25T09:15:00.250Z")])[0]["payload"]
    assert payload["timestamp"] == 1764062100.25


def test_reject_without_is_group_is_ignored_and_repeats_are_dropped(noweb, feed, clock) -> None:
    first = call("reject")
    del first["isGroup"]
    assert feed(noweb, "call", [first]) == []
    events = feed(noweb, "call", [call("reject")])
    assert [e["event"] for e in events] == ["call.rejected"]
    clock.now += 0.5
    assert feed(noweb, "call", [call("terminate")]) == []
    clock.now += 1.0
    assert [e["event"] for e in feed(noweb, "call", [call("terminate")])] == ["call.rejected"]


def test_accepted_call_does_not_end_as_rejected(noweb, feed) -> None:
    assert [e["event"] for e in feed(noweb, "call", [call("accept")])] == ["call.accepted"]
    assert feed(noweb, "call", [call("terminate")]) == []
    # terminate forgot the accepted call: a later reject of the same id is reported
    assert [e["event"] for e in feed(noweb, "call", [call("reject")])] == ["call.rejected"]


def test_ringing_and_timeout_give_nothing(noweb, feed) -> None:
    assert feed(noweb, "call", [call("ringing"), call("timeout")]) == []


def test_label_upsert_and_delete(noweb, feed) -> None:
    label = {"id": "5", "name": "Hiking", "color": 5, "deleted": False, "predefinedId": None}
    assert feed(noweb, "labels.edit", label) == [{"event": "label.upsert", "payload": {
        "id": "5", "name": "Hiking", "color": 5, "colorHex": "#55ccb3"}}]
    gone = {**label, "deleted": True}
    assert feed(noweb, "labels.edit", gone) == [{"event": "label.deleted", "payload": {
        "id": "5", "name": "Hiking", "color": 5, "colorHex": "#55ccb3"}}]


def test_label_colour_past_the_palette_is_black(noweb, feed) -> None:
    payload = feed(noweb, "labels.edit", {"id": "9", "name": "x", "color": 25})[0]["payload"]
    assert payload["colorHex"] == "#000000"


def test_chat_label_association_names_a_known_label(noweb, feed) -> None:
    feed(noweb, "labels.edit", {"id": "5", "name": "Hiking", "color": 0, "deleted": False})
    add = {"association": {"type": "label_jid", "chatId": ALICE, "labelId": "5"}, "type": "add"}
    assert feed(noweb, "labels.association", add) == [{"event": "label.chat.added", "payload": {
        "labelId": "5", "chatId": "22222222222@c.us",
        "label": {"id": "5", "name": "Hiking", "color": 0, "colorHex": "#ff9485"}}}]
    remove = {"association": {"type": "label_jid", "chatId": GROUP, "labelId": "7"},
              "type": "remove"}
    assert feed(noweb, "labels.association", remove) == [{"event": "label.chat.deleted",
                                                          "payload": {"labelId": "7",
                                                                      "chatId": GROUP,
                                                                      "label": None}}]


def test_message_label_association_gives_nothing(noweb, feed) -> None:
    add = {"association": {"type": "label_message", "chatId": ALICE, "messageId": "M",
                           "labelId": "5"}, "type": "add"}
    assert feed(noweb, "labels.association", add) == []


def test_valid_events_without_a_mapping_give_only_engine_event(noweb, feed) -> None:
    for record_type, data in [("chats.update", [{"id": ALICE, "unreadCount": 0}]),
                              ("contacts.upsert", []), ("messaging-history.set",
                                                        {"chats": [], "messages": []}),
                              ("messages.reaction", [])]:
        assert feed(noweb, record_type, data, engine_event=True) == [
            {"event": "engine.event", "payload": {"event": record_type, "data": data}}]
    assert noweb.bad_records == 0
