"""``messages.upsert`` → ``message`` / ``message.any`` (engine-mapping §5, §7.2, §7.4, §7.5, §7.9)."""

from __future__ import annotations

from typing import Any

import pytest

ALICE = "22222222222@s.whatsapp.net"
GROUP = "123456789-987654321@g.us"


def upsert(*messages: dict[str, Any], kind: str = "notify") -> dict[str, Any]:
    return {"messages": list(messages), "type": kind}


def incoming(message: dict[str, Any], *, msg_id: str = "AAAAAAAAAAAAAAAA", chat: str = ALICE,
             participant: str | None = None, **extra: Any) -> dict[str, Any]:
    key: dict[str, Any] = {"remoteJid": chat, "fromMe": False, "id": msg_id}
    if participant is not None:
        key["participant"] = participant
    return {"key": key, "messageTimestamp": 1700000000, "pushName": "Alice", "message": message,
            **extra}


def only(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [e["payload"] for e in events if e["event"] == name]
    assert len(found) == 1, events
    return found[0]


def test_dm_text_from_someone_else(noweb, feed) -> None:
    raw = incoming({"conversation": "Hello 👋"})
    events = feed(noweb, "messages.upsert", upsert(raw))
    expected = {
        "id": "false_22222222222@c.us_AAAAAAAAAAAAAAAA",
        "timestamp": 1700000000,
        "from": "22222222222@c.us",
        "fromMe": False,
        "source": "app",
        "body": "Hello 👋",
        "hasMedia": False,
        "media": None,
        "ack": 2,
        "ackName": "DEVICE",
        "location": None,
        "vCards": None,
        "replyTo": None,
        "_data": {**raw, "status": 3},
    }
    assert events == [{"event": "message", "payload": expected},
                      {"event": "message.any", "payload": expected}]


def test_own_message_is_message_any_only_with_the_chat_as_from(noweb, feed) -> None:
    raw = {"key": {"remoteJid": ALICE, "fromMe": True, "id": "3EB0AAAA"}, "status": 2,
           "messageTimestamp": 1700000001, "message": {"conversation": "mine"}}
    events = feed(noweb, "messages.upsert", upsert(raw, kind="append"))
    assert [e["event"] for e in events] == ["message.any"]
    payload = events[0]["payload"]
    assert payload["id"] == "true_22222222222@c.us_3EB0AAAA"
    assert payload["from"] == "22222222222@c.us"
    assert "to" not in payload and "participant" not in payload
    assert (payload["ack"], payload["ackName"]) == (1, "SERVER")


def test_message_sent_by_the_socket_itself_is_pending(noweb, feed) -> None:
    raw = {"key": {"remoteJid": ALICE, "fromMe": True, "id": "BAE5"}, "status": 1,
           "messageTimestamp": 1700000001, "message": {"conversation": "sending"}}
    payload = only(feed(noweb, "messages.upsert", upsert(raw, kind="append")), "message.any")
    assert (payload["ack"], payload["ackName"]) == (0, "PENDING")


def test_group_message_from_someone_else(noweb, feed) -> None:
    raw = incoming({"conversation": "hi all"}, chat=GROUP, msg_id="BBBBBBBBBBBBBBBB",
                   participant="22222222222:12@s.whatsapp.net")
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert payload["id"] == "false_123456789-987654321@g.us_BBBBBBBBBBBBBBBB_22222222222@c.us"
    assert (payload["from"], payload["to"], payload["participant"]) == (
        GROUP, GROUP, "22222222222@c.us")


def test_lid_participant_stays_lid(noweb, feed) -> None:
    raw = incoming({"conversation": "lid"}, chat=GROUP, participant="55555555555:3@lid")
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert payload["participant"] == "55555555555@lid"
    assert payload["id"].endswith("_55555555555@lid")


def test_own_lid_as_participant_forces_from_me(noweb, feed) -> None:
    raw = incoming({"conversation": "from my phone"}, chat=GROUP, msg_id="CCCCCCCCCCCCCCCC",
                   participant="44444444444@lid", status=2)
    events = feed(noweb, "messages.upsert", upsert(raw), engine_event=True)
    assert [e["event"] for e in events] == ["message.any", "engine.event"]
    payload = events[0]["payload"]
    assert payload["id"] == "true_123456789-987654321@g.us_CCCCCCCCCCCCCCCC_44444444444@lid"
    assert payload["fromMe"] is True
    assert payload["_data"]["key"]["fromMe"] is True
    # the record itself is not changed: engine.event shows it as it came
    assert events[1]["payload"]["data"]["messages"][0]["key"]["fromMe"] is False
    assert "status" in events[1]["payload"]["data"]["messages"][0]


def test_own_lid_with_device_in_config_is_normalized(make_translator, feed) -> None:
    translator = make_translator(me_lid="44444444444:7@lid")
    raw = incoming({"conversation": "x"}, chat=GROUP, participant="44444444444@lid")
    events = feed(translator, "messages.upsert", upsert(raw))
    assert [e["event"] for e in events] == ["message.any"]


def test_status_broadcast(noweb, feed) -> None:
    raw = incoming({"conversation": "my status"}, chat="status@broadcast",
                   msg_id="DDDDDDDDDDDDDDDD", participant="33333333333@s.whatsapp.net")
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert payload["id"] == "false_status@broadcast_DDDDDDDDDDDDDDDD_33333333333@c.us"
    assert (payload["from"], payload["to"], payload["participant"]) == (
        "status@broadcast", "status@broadcast", "33333333333@c.us")


@pytest.mark.parametrize(("timestamp", "expected"), [
    (1700000000, 1700000000),
    ("1700000000", 1700000000),
    ({"low": 1700000000, "high": 0, "unsigned": True}, 1700000000),
    ({"low": -807049093, "high": 395, "unsigned": False}, 1700000000123),
    (None, None),
])
def test_long_timestamps_become_numbers(noweb, feed, timestamp: Any, expected: Any) -> None:
    raw = incoming({"conversation": "t"}, messageTimestamp=timestamp)
    assert only(feed(noweb, "messages.upsert", upsert(raw)), "message")["timestamp"] == expected


def test_missing_timestamp_is_left_out(noweb, feed) -> None:
    raw = incoming({"conversation": "t"})
    del raw["messageTimestamp"]
    assert "timestamp" not in only(feed(noweb, "messages.upsert", upsert(raw)), "message")


def test_ephemeral_wrapper_is_unwrapped_for_the_body(noweb, feed) -> None:
    raw = incoming({"ephemeralMessage": {"message": {"extendedTextMessage": {
        "text": "disappearing", "contextInfo": {"expiration": 604800}}}}})
    assert only(feed(noweb, "messages.upsert", upsert(raw)), "message")["body"] == "disappearing"


def test_image_with_caption(noweb, feed) -> None:
    raw = incoming({"imageMessage": {"url": "https://mmg.whatsapp.net/x", "mimetype": "image/jpeg",
                                     "caption": "look", "mediaKey": "AAEC",
                                     "fileLength": {"low": 1234, "high": 0, "unsigned": True}}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert (payload["body"], payload["hasMedia"]) == ("look", True)
    assert payload["media"] == {"url": None, "filename": None, "mimetype": "image/jpeg"}


def test_view_once_image_is_unwrapped_for_body_and_media(noweb, feed) -> None:
    raw = incoming({"viewOnceMessageV2": {"message": {"imageMessage": {
        "mimetype": "image/png", "caption": "once"}}}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert (payload["body"], payload["hasMedia"], payload["media"]["mimetype"]) == (
        "once", True, "image/png")


def test_document_with_caption_has_a_filename(noweb, feed) -> None:
    raw = incoming({"documentWithCaptionMessage": {"message": {"documentMessage": {
        "mimetype": "application/pdf", "fileName": "route.pdf", "caption": "the route"}}}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert payload["body"] == "the route"
    assert payload["media"] == {"url": None, "filename": "route.pdf", "mimetype": "application/pdf"}


def test_voice_note_has_no_body(noweb, feed) -> None:
    raw = incoming({"audioMessage": {"mimetype": "audio/ogg; codecs=opus", "ptt": True,
                                     "seconds": 7}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert (payload["body"], payload["hasMedia"]) == (None, True)
    assert payload["media"] == {"url": None, "filename": None, "mimetype": "audio/ogg; codecs=opus"}


def test_location_has_text_coordinates(noweb, feed) -> None:
    raw = incoming({"locationMessage": {"degreesLatitude": 48.8584, "degreesLongitude": 2.2945,
                                        "name": "Eiffel Tower", "address": "Paris",
                                        "comment": "meet here", "jpegThumbnail": "/9j/4AAQ"}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert payload["location"] == {"live": False, "latitude": "48.8584", "longitude": "2.2945",
                                   "name": "Eiffel Tower", "address": "Paris", "description":
                                   "meet here", "thumbnail": "/9j/4AAQ"}
    assert (payload["body"], payload["hasMedia"]) == (None, False)


def test_location_numbers_print_as_javascript_does(noweb, feed) -> None:
    raw = incoming({"locationMessage": {"degreesLatitude": 47.0, "degreesLongitude": 0.000001}})
    location = only(feed(noweb, "messages.upsert", upsert(raw)), "message")["location"]
    assert (location["latitude"], location["longitude"]) == ("47", "0.000001")
    assert set(location) == {"live", "latitude", "longitude"}


def test_live_location(noweb, feed) -> None:
    raw = incoming({"liveLocationMessage": {"degreesLatitude": 1.5, "degreesLongitude": -2.25,
                                            "caption": "on my way", "sequenceNumber": "7"}})
    assert only(feed(noweb, "messages.upsert", upsert(raw)), "message")["location"] == {
        "live": True, "latitude": "1.5", "longitude": "-2.25", "description": "on my way"}


def test_wrapped_location_gives_no_location(noweb, feed) -> None:
    raw = incoming({"ephemeralMessage": {"message": {"locationMessage": {
        "degreesLatitude": 1, "degreesLongitude": 2}}}})
    assert only(feed(noweb, "messages.upsert", upsert(raw)), "message")["location"] is None


def test_contact_card(noweb, feed) -> None:
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Hut\nTEL;waid=41791234567:+41 79 123 45 67\nEND:VCARD"
    raw = incoming({"contactMessage": {"displayName": "Hut", "vcard": vcard}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert (payload["vCards"], payload["body"]) == ([vcard], None)


def test_contacts_array(noweb, feed) -> None:
    raw = incoming({"contactsArrayMessage": {"displayName": "2 contacts", "contacts": [
        {"displayName": "A", "vcard": "BEGIN:VCARD\nFN:A\nEND:VCARD"},
        {"displayName": "B", "vcard": "BEGIN:VCARD\nFN:B\nEND:VCARD"}]}})
    assert only(feed(noweb, "messages.upsert", upsert(raw)), "message")["vCards"] == [
        "BEGIN:VCARD\nFN:A\nEND:VCARD", "BEGIN:VCARD\nFN:B\nEND:VCARD"]


def test_reply_to(noweb, feed) -> None:
    quoted = {"extendedTextMessage": {"text": "original"}}
    raw = incoming({"extendedTextMessage": {"text": "answer", "contextInfo": {
        "stanzaId": "3EB0QUOTED", "participant": "11111111111@s.whatsapp.net",
        "quotedMessage": quoted}}})
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert payload["replyTo"] == {"id": "3EB0QUOTED", "participant": "11111111111@c.us",
                                  "body": "original", "_data": quoted}


def test_reply_to_media_without_caption_leaves_body_out(noweb, feed) -> None:
    quoted = {"stickerMessage": {"mimetype": "image/webp"}}
    raw = incoming({"extendedTextMessage": {"text": "nice", "contextInfo": {
        "stanzaId": "Q", "participant": ALICE, "quotedMessage": quoted}}})
    reply = only(feed(noweb, "messages.upsert", upsert(raw)), "message")["replyTo"]
    assert reply == {"id": "Q", "participant": "22222222222@c.us", "_data": quoted}


@pytest.mark.parametrize(("content", "body"), [
    ({"buttonsResponseMessage": {"selectedButtonId": "1", "selectedDisplayText": "Yes"}}, "Yes"),
    ({"templateButtonReplyMessage": {"selectedId": "1", "selectedDisplayText": "OK"}}, "OK"),
    ({"listMessage": {"title": "Menu", "description": "Pick one", "footerText": "thanks"}},
     "Menu\nPick one\nthanks"),
    ({"listResponseMessage": {"title": "Soup", "description": ""}}, "Soup"),
    ({"buttonsMessage": {"contentText": "Choose", "buttons": []}}, "Choose"),
    ({"conversation": "", "extendedTextMessage": {"text": "second"}}, "second"),
    ({"protocolMessage": {"type": 3, "ephemeralExpiration": 86400}}, None),
])
def test_body_extraction(noweb, feed, content: dict[str, Any], body: Any) -> None:
    assert only(feed(noweb, "messages.upsert", upsert(incoming(content))), "message")["body"] == body


def test_unknown_status_passes_through_as_unknown(noweb, feed) -> None:
    raw = incoming({"conversation": "x"}, status=12)
    payload = only(feed(noweb, "messages.upsert", upsert(raw)), "message")
    assert (payload["ack"], payload["ackName"]) == (11, "UNKNOWN")


@pytest.mark.parametrize("raw", [
    pytest.param({"key": {"remoteJid": ALICE, "fromMe": False, "id": "S"}, "messageStubType": 2,
                  "messageStubParameters": ["No session"]}, id="stub-without-content"),
    pytest.param(incoming({"protocolMessage": {"type": 5, "historySyncNotification": {
        "syncType": 2}}}), id="history-sync-notification"),
    pytest.param(incoming({"protocolMessage": {"type": 4}}), id="ephemeral-sync-response"),
    pytest.param(incoming({"protocolMessage": {"type": 17}}), id="peer-data-response"),
    pytest.param(incoming({"senderKeyDistributionMessage": {"groupId": GROUP}}, chat=GROUP,
                          participant=ALICE), id="sender-key-only"),
    pytest.param(incoming({"deviceSentMessage": {"destinationJid": ALICE}}), id="device-sent"),
    pytest.param(incoming({"call": {"callKey": "AAEC"}}), id="call-key"),
    pytest.param({"key": {"remoteJid": ALICE, "fromMe": False, "id": "V", "isViewOnce": True},
                  "messageTimestamp": 1}, id="view-once-placeholder"),
])
def test_messages_that_give_nothing(noweb, feed, raw: dict[str, Any]) -> None:
    assert feed(noweb, "messages.upsert", upsert(raw)) == []
    assert noweb.bad_records == 0


def test_sender_key_with_real_content_is_processed(noweb, feed) -> None:
    raw = incoming({"senderKeyDistributionMessage": {"groupId": GROUP},
                    "conversation": "first in group"}, chat=GROUP, participant=ALICE)
    assert only(feed(noweb, "messages.upsert", upsert(raw)), "message")["body"] == "first in group"


def test_every_message_of_a_batch_is_mapped(noweb, feed) -> None:
    first = incoming({"conversation": "one"}, msg_id="M1")
    second = incoming({"conversation": "two"}, msg_id="M2")
    events = feed(noweb, "messages.upsert", upsert(first, second, kind="append"))
    assert [(e["event"], e["payload"]["body"]) for e in events] == [
        ("message", "one"), ("message.any", "one"), ("message", "two"), ("message.any", "two")]


def test_strings_pass_through_byte_exact(noweb, feed) -> None:
    text = "\u0000NUL \ufeffBOM e\u0301 \u05e9\u05dc\u05d5\u05dd 👩‍👩‍👧 " + "x" * 100_000
    payload = only(feed(noweb, "messages.upsert", upsert(incoming({"conversation": text}))),
                   "message")
    assert payload["body"] == text
    assert payload["_data"]["message"]["conversation"] == text
