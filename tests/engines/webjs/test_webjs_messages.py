"""WEBJS messages: ``message``, ``message.any``, ``message.waiting``, ``message.revoked``,
``message.edited`` (engine-mapping.md §5, §6.3, §6.4)."""

from __future__ import annotations

import copy
import json

import msgspec
import pytest
from webjs_records import (
    ALICE,
    BOB,
    GROUP,
    ME,
    expected_message,
    make_translator,
    message,
    run,
    without_engine_event,
)

DM_ID = "false_22222222222@c.us_AAAAAAAAAAAAAAAA"


def test_message_create_gives_message_any_then_engine_event() -> None:
    msg = message(DM_ID, body="Hi there")
    result = run(make_translator(), "message_create", msg)
    assert result == [("message.any", expected_message(msg)),
                      ("engine.event", {"event": "message_create", "data": msg})]


def test_message_gives_message() -> None:
    msg = message(DM_ID)
    assert without_engine_event(run(make_translator(), "message", msg)) == [
        ("message", expected_message(msg))]


def test_dm_payload_has_no_participant_key_and_no_reply_to_key() -> None:
    (_, payload), = without_engine_event(run(make_translator(), "message", message(DM_ID)))
    assert "participant" not in payload
    assert "replyTo" not in payload
    assert payload["source"] == "app"


def test_own_message_to_a_contact() -> None:
    msg = message("true_22222222222@c.us_3EB0AAAAAAAAAAAAAAAA", from_=ME, to=ALICE, ack=0)
    (name, payload), = without_engine_event(run(make_translator(), "message_create", msg))
    assert name == "message.any"
    assert payload == expected_message(msg)
    assert (payload["fromMe"], payload["from"], payload["to"]) == (True, ME, ALICE)
    assert (payload["ack"], payload["ackName"]) == (0, "PENDING")


def test_group_message_participant_comes_from_the_id() -> None:
    msg = message(f"false_{GROUP}_BBBBBBBBBBBBBBBB_{BOB}", from_=GROUP, to=ME, author=BOB)
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload == expected_message(msg)
    assert payload["participant"] == BOB


def test_lid_participant_stays_lid_without_device() -> None:
    msg = message(f"true_{GROUP}_CCCCCCCCCCCCCCCC_44444444444:7@lid", from_=ME, to=GROUP)
    (_, payload), = without_engine_event(run(make_translator(), "message_create", msg))
    assert payload["participant"] == "44444444444@lid"


def test_status_broadcast_message() -> None:
    msg = message(f"false_status@broadcast_DDDDDDDDDDDDDDDD_{BOB}", from_="status@broadcast",
                  to=ME, author=BOB, isStatus=True)
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert (payload["from"], payload["to"], payload["participant"]) == ("status@broadcast", ME, BOB)


def test_media_with_caption_carries_media_without_url() -> None:
    msg = message(DM_ID, body="Look 📸", msg_type="image", has_media=True,
                  data_extra={"mimetype": "image/jpeg", "directPath": "/v/t62/abc",
                              "caption": "Look 📸"})
    for native, name in (("message", "message"), ("message_create", "message.any")):
        (got_name, payload), = without_engine_event(run(make_translator(), native, msg))
        assert got_name == name
        assert payload == expected_message(msg, hasMedia=True, media={
            "url": None, "filename": None, "mimetype": "image/jpeg"})


def test_document_media_keeps_its_filename() -> None:
    msg = message(DM_ID, body="", msg_type="document", has_media=True,
                  data_extra={"mimetype": "application/pdf", "filename": "menu.pdf"})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["media"] == {"url": None, "filename": "menu.pdf", "mimetype": "application/pdf"}


def test_media_mimetype_absent_in_data_is_absent_in_media() -> None:
    msg = message(DM_ID, body="", msg_type="ptt", has_media=True)
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["media"] == {"url": None, "filename": None}


def test_revoked_type_never_has_media() -> None:
    msg = message(DM_ID, body="", msg_type="revoked", has_media=True)
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["media"] is None and payload["hasMedia"] is True


def test_has_media_follows_javascript_truthiness() -> None:
    msg = message(DM_ID, hasMedia="yes", data_extra={"mimetype": "image/png"})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["hasMedia"] is True
    assert payload["media"] == {"url": None, "filename": None, "mimetype": "image/png"}


def test_location_has_numbers_and_the_body_as_thumbnail() -> None:
    msg = message(DM_ID, body="/9j/thumb==", msg_type="location",
                  data_extra={"isLive": False, "lat": 48.8584, "lng": 2.2945},
                  location={"latitude": 48.8584, "longitude": 2.2945, "name": "Eiffel Tower",
                            "address": "Champ de Mars", "url": "https://maps.example/x",
                            "description": "Eiffel Tower\nChamp de Mars"})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["location"] == {
        "live": False, "latitude": 48.8584, "longitude": 2.2945, "name": "Eiffel Tower",
        "address": "Champ de Mars", "url": "https://maps.example/x",
        "description": "Eiffel Tower\nChamp de Mars", "thumbnail": "/9j/thumb=="}
    assert payload["hasMedia"] is False


def test_live_location_uses_the_comment_and_omits_undefined_fields() -> None:
    msg = message(DM_ID, body="", msg_type="location",
                  data_extra={"isLive": True, "comment": "on my way"},
                  location={"latitude": 1, "longitude": -2.5, "description": ""})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["location"] == {"live": True, "latitude": 1, "longitude": -2.5,
                                   "description": "on my way", "thumbnail": ""}


def test_empty_location_object_is_null() -> None:
    msg = message(DM_ID, location={})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["location"] is None


def test_vcards_pass_through() -> None:
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:Marco\nEND:VCARD"
    msg = message(DM_ID, body=card, msg_type="vcard", vCards=[card])
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["vCards"] == [card]


def test_reply_to_from_the_quoted_message() -> None:
    quoted = {"type": "chat", "body": "original", "id": {"id": "QQQQ"}, "author": wid_bob()}
    msg = message(DM_ID, data_extra={"quotedMsg": quoted}, hasQuotedMsg=True)
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["replyTo"] == {"id": "QQQQ", "participant": BOB, "body": "original",
                                  "_data": quoted}


def test_reply_to_with_only_type_and_body_has_just_body_and_data() -> None:
    quoted = {"type": "image", "body": "thumb", "caption": "a caption"}
    msg = message(DM_ID, data_extra={"quotedMsg": quoted})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["replyTo"] == {"body": "a caption", "_data": quoted}


def test_system_notification_is_an_ordinary_message_with_empty_body() -> None:
    msg = message(DM_ID, body="", msg_type="e2e_notification")
    (name, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert name == "message" and payload["body"] == ""


@pytest.mark.parametrize("text", ["nul\u0000byte", "emoji 🍝👩‍👩‍👧", "RTL مرحبا בעולם",
                                  "\ufeffBOM first", "combining e\u0301\u0308", "x" * 100_000])
def test_strings_pass_through_byte_exact(text: str) -> None:
    msg = message(DM_ID, body=text, data_extra={"notifyName": text})
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert payload["body"] == text
    assert payload["_data"]["notifyName"] == text


def test_ciphertext_gives_message_waiting_without_media() -> None:
    msg = message(DM_ID, body="", msg_type="ciphertext", has_media=True,
                  data_extra={"mimetype": "image/jpeg"})
    assert without_engine_event(run(make_translator(), "message_ciphertext", msg)) == [
        ("message.waiting", expected_message(msg, hasMedia=True))]


def test_revoke_everyone() -> None:
    before = message(DM_ID, body="oops")
    after = message(DM_ID, body="", msg_type="revoked", data_extra={
        "protocolMessageKey": {"fromMe": False, "remote": ALICE, "id": "AAAAAAAAAAAAAAAA"}})
    assert without_engine_event(run(make_translator(), "message_revoke_everyone",
                                     [after, before])) == [
        ("message.revoked", {"after": expected_message(after), "before": expected_message(before),
                             "revokedMessageId": "AAAAAAAAAAAAAAAA"})]


def test_revoke_without_before_and_without_protocol_key() -> None:
    after = message(DM_ID, body="", msg_type="revoked")
    assert without_engine_event(run(make_translator(), "message_revoke_everyone",
                                     [after, None])) == [
        ("message.revoked", {"after": expected_message(after), "before": None})]


def test_edit_replaces_body_and_carries_the_event_as_data() -> None:
    msg = message("true_22222222222@c.us_3EB0EEEEEEEEEEEEEEEE", from_=ME, to=ALICE,
                  body="new text", ack=3)
    result = without_engine_event(run(make_translator(), "message_edit",
                                      [msg, "new text", "old text"]))
    assert result == [("message.edited", expected_message(
        msg, body="new text", editedMessageId="3EB0EEEEEEEEEEEEEEEE",
        _data={"message": msg, "newBody": "new text", "prevBody": "old text"}))]


def test_message_payload_keys_in_waha_shape() -> None:
    msg = copy.deepcopy(message(DM_ID))
    (_, payload), = without_engine_event(run(make_translator(), "message", msg))
    assert set(payload) == {"id", "timestamp", "from", "fromMe", "source", "to", "body",
                            "hasMedia", "media", "ack", "ackName", "location", "vCards", "_data"}


def wid_bob() -> dict[str, str]:
    return {"server": "c.us", "user": "33333333333", "_serialized": BOB}


def test_encoded_bytes_of_a_dm_message() -> None:
    """The exact JSON a receiver gets: absent keys absent, nulls null, strings untouched."""
    msg = message(DM_ID, body="Ciao 👋", data_extra={"notifyName": "Alice"})
    emissions = make_translator().translate_line(json.dumps({"type": "message", "data": msg}), "p")
    raw = json.dumps(msg["_data"], ensure_ascii=False, separators=(",", ":"))
    assert msgspec.json.encode(emissions[0].payload) == (
        '{"id":"false_22222222222@c.us_AAAAAAAAAAAAAAAA","timestamp":1700000100,'
        '"from":"22222222222@c.us","fromMe":false,"source":"app","to":"11111111111@c.us",'
        '"body":"Ciao 👋","hasMedia":false,"media":null,"ack":1,"ackName":"SERVER",'
        f'"location":null,"vCards":[],"_data":{raw}}}').encode()
