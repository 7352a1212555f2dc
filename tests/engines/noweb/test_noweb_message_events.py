"""Revokes, edits, reactions, polls and the synthetic presence of ``messages.upsert``
(engine-mapping §7.2, §7.3, §7.9)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

ALICE = "22222222222@s.whatsapp.net"
GROUP = "123456789-987654321@g.us"


def upsert(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages), "type": "notify"}


def msg(message: dict[str, Any] | None, msg_id: str = "X1", *, chat: str = ALICE,
        from_me: bool = False, participant: str | None = None, ts: Any = 1700000100) -> dict:
    key: dict[str, Any] = {"remoteJid": chat, "fromMe": from_me, "id": msg_id}
    if participant:
        key["participant"] = participant
    raw: dict[str, Any] = {"key": key, "messageTimestamp": ts}
    if message is not None:
        raw["message"] = message
    return raw


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def test_revoke_gives_message_revoked_only(noweb, feed) -> None:
    raw = msg({"protocolMessage": {"key": {"remoteJid": ALICE, "fromMe": False, "id": "ORIG"},
                                   "type": 0}}, "REVOKE1")
    events = feed(noweb, "messages.upsert", upsert(raw))
    assert events == [{"event": "message.revoked", "payload": {
        "after": {
            "id": "false_22222222222@c.us_REVOKE1", "timestamp": 1700000100,
            "from": "22222222222@c.us", "fromMe": False, "source": "app", "body": None,
            "hasMedia": False, "media": None, "ack": 2, "ackName": "DEVICE", "location": None,
            "vCards": None, "replyTo": None, "_data": {**raw, "status": 3},
        },
        "before": None,
        "revokedMessageId": "ORIG",
        "_data": {**raw, "status": 3},
    }}]


def test_wrapped_revoke_is_a_plain_message_as_in_waha(noweb, feed) -> None:
    raw = msg({"ephemeralMessage": {"message": {"protocolMessage": {
        "key": {"remoteJid": ALICE, "id": "ORIG"}, "type": 0}}}})
    events = feed(noweb, "messages.upsert", upsert(raw))
    assert names(events) == ["message", "message.any"]
    assert events[0]["payload"]["body"] is None


def test_edit_gives_message_edited_only(noweb, feed) -> None:
    raw = msg({"editedMessage": {"message": {"protocolMessage": {
        "key": {"remoteJid": ALICE, "fromMe": False, "id": "ORIG"}, "type": 14,
        "editedMessage": {"conversation": "fixed text"}, "timestampMs": "1700000100000"}}}},
        "EDIT1")
    events = feed(noweb, "messages.upsert", upsert(raw))
    assert names(events) == ["message.edited"]
    payload = events[0]["payload"]
    assert payload == {
        "id": "false_22222222222@c.us_EDIT1", "timestamp": 1700000100,
        "from": "22222222222@c.us", "fromMe": False, "source": "app", "body": "fixed text",
        "hasMedia": False, "media": None, "ack": 2, "ackName": "DEVICE", "location": None,
        "vCards": None, "replyTo": None, "editedMessageId": "ORIG", "_data": {**raw, "status": 3},
    }


def test_edit_of_a_caption_without_text_gives_an_empty_body(noweb, feed) -> None:
    raw = msg({"protocolMessage": {"key": {"remoteJid": ALICE, "id": "ORIG"}, "type": 14,
                                   "editedMessage": {"imageMessage": {"mimetype": "image/jpeg"}}}})
    payload = feed(noweb, "messages.upsert", upsert(raw))[0]["payload"]
    assert (payload["body"], payload["editedMessageId"]) == ("", "ORIG")


def test_reaction(noweb, feed) -> None:
    raw = msg({"reactionMessage": {"key": {"remoteJid": ALICE, "fromMe": True, "id": "MINE"},
                                   "text": "👍", "senderTimestampMs": "1700000100123"}}, "R1")
    assert feed(noweb, "messages.upsert", upsert(raw)) == [{"event": "message.reaction", "payload": {
        "id": "false_22222222222@c.us_R1", "from": "22222222222@c.us", "fromMe": False,
        "source": "app", "timestamp": 1700000100,
        "reaction": {"text": "👍", "messageId": "true_22222222222@c.us_MINE"}}}]


def test_reaction_removed_in_a_group(noweb, feed) -> None:
    raw = msg({"reactionMessage": {"key": {"remoteJid": GROUP, "fromMe": False, "id": "THEIRS",
                                           "participant": "33333333333@s.whatsapp.net"},
                                   "text": ""}}, "R2", chat=GROUP, participant=ALICE)
    payload = feed(noweb, "messages.upsert", upsert(raw))[0]["payload"]
    assert payload["reaction"] == {
        "text": "", "messageId": "false_123456789-987654321@g.us_THEIRS_33333333333@c.us"}
    assert (payload["to"], payload["participant"]) == (GROUP, "22222222222@c.us")


def vote_update(poll_key: dict[str, Any], msg_id: str = "VOTE1") -> dict[str, Any]:
    return msg({"pollUpdateMessage": {"pollCreationMessageKey": poll_key,
                                      "vote": {"encPayload": "AAEC", "encIv": "AAEC"}}},
               msg_id, chat=GROUP, participant=ALICE, ts="1700000200")


POLL_KEY = {"remoteJid": GROUP, "fromMe": True, "id": "POLL1",
            "participant": "11111111111@s.whatsapp.net"}


def test_vote_on_an_unknown_poll_fails(noweb, feed) -> None:
    events = feed(noweb, "messages.upsert", upsert(vote_update(POLL_KEY)))
    assert events == [{"event": "poll.vote.failed", "payload": {
        "vote": {"id": "false_123456789-987654321@g.us_VOTE1_22222222222@c.us",
                 "to": GROUP, "from": "22222222222@c.us", "fromMe": False,
                 "selectedOptions": [], "timestamp": 1700000200},
        "poll": {"id": "true_123456789-987654321@g.us_POLL1_11111111111@c.us",
                 "to": GROUP, "from": "11111111111@c.us", "fromMe": True}}}]


def test_vote_failed_in_a_dm_names_me_as_the_receiver(noweb, feed) -> None:
    raw = msg({"pollUpdateMessage": {"pollCreationMessageKey": {
        "remoteJid": ALICE, "fromMe": True, "id": "P"}}}, "V")
    vote = feed(noweb, "messages.upsert", upsert(raw))[0]["payload"]
    assert (vote["vote"]["to"], vote["vote"]["from"]) == ("me", "22222222222@c.us")
    assert (vote["poll"]["to"], vote["poll"]["from"]) == ("22222222222@c.us", "me")


def poll_creation() -> dict[str, Any]:
    return msg({"messageContextInfo": {"messageSecret": "AAEC"},
                "pollCreationMessageV3": {"name": "Which trail?", "selectableOptionsCount": 1,
                                          "options": [{"optionName": "Lake"},
                                                      {"optionName": "Peak"}]}},
               "POLL1", chat=GROUP, from_me=True, participant="11111111111@s.whatsapp.net")


def sha(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_vote_on_a_known_poll_waits_for_the_decrypted_vote(noweb, feed) -> None:
    assert names(feed(noweb, "messages.upsert", upsert(poll_creation()))) == ["message.any"]
    assert feed(noweb, "messages.upsert", upsert(vote_update(POLL_KEY))) == []


def test_poll_created_in_the_same_batch_is_known(noweb, feed) -> None:
    events = feed(noweb, "messages.upsert", upsert(poll_creation(), vote_update(POLL_KEY)))
    assert names(events) == ["message.any"]


def test_decrypted_vote_gives_poll_vote(noweb, feed) -> None:
    feed(noweb, "messages.upsert", upsert(poll_creation()))
    update = {"key": POLL_KEY, "update": {"pollUpdates": [
        {"pollUpdateMessageKey": {"remoteJid": GROUP, "fromMe": False, "id": "VOTE1",
                                  "participant": ALICE},
         "vote": {"selectedOptions": [sha("Peak"), sha("not an option")]},
         "senderTimestampMs": {"low": -807049093, "high": 395, "unsigned": False}},
        {"pollUpdateMessageKey": {"remoteJid": GROUP, "fromMe": False, "id": "VOTE2",
                                  "participant": "33333333333@s.whatsapp.net"},
         "vote": {"selectedOptions": [sha("Lake")]}, "senderTimestampMs": 1700000000999},
    ]}}
    assert feed(noweb, "messages.update", [update]) == [{"event": "poll.vote", "payload": {
        "vote": {"id": "false_123456789-987654321@g.us_VOTE1_22222222222@c.us",
                 "to": GROUP, "from": "22222222222@c.us", "fromMe": False,
                 "selectedOptions": ["Peak", "Unknown"], "timestamp": 1700000000123},
        "poll": {"id": "true_123456789-987654321@g.us_POLL1_11111111111@c.us",
                 "to": GROUP, "from": "11111111111@c.us", "fromMe": True}}}]


def test_decrypted_vote_for_an_unknown_poll_gives_nothing(noweb, feed) -> None:
    update = {"key": POLL_KEY, "update": {"pollUpdates": [
        {"pollUpdateMessageKey": {"remoteJid": GROUP, "id": "V", "participant": ALICE},
         "vote": {"selectedOptions": [sha("Lake")]}}]}}
    assert feed(noweb, "messages.update", [update]) == []
    assert noweb.bad_records == 0


def composing(chat: str, participant: str) -> dict[str, Any]:
    return {"id": chat, "presences": {participant: {"lastKnownPresence": "composing"}}}


def test_message_after_typing_gives_a_synthetic_online_first(noweb, feed) -> None:
    feed(noweb, "presence.update", composing(ALICE, ALICE))
    events = feed(noweb, "messages.upsert", upsert(msg({"conversation": "done typing"})))
    assert names(events) == ["presence.update", "message", "message.any"]
    assert events[0]["payload"] == {"id": "22222222222@c.us", "presences": [
        {"participant": "22222222222@c.us", "lastKnownPresence": "online", "lastSeen": None}]}
    # the synthetic presence entered the store: the next message has none
    again = feed(noweb, "messages.upsert", upsert(msg({"conversation": "again"}, "X2")))
    assert names(again) == ["message", "message.any"]


def test_group_typing_is_kept_per_participant(noweb, feed) -> None:
    feed(noweb, "presence.update", composing(GROUP, ALICE))
    other = feed(noweb, "messages.upsert", upsert(msg({"conversation": "hi"}, chat=GROUP,
                                                      participant="33333333333@s.whatsapp.net")))
    assert names(other) == ["message", "message.any"]
    events = feed(noweb, "messages.upsert", upsert(msg({"conversation": "hi"}, "X2", chat=GROUP,
                                                       participant=ALICE)))
    assert names(events) == ["presence.update", "message", "message.any"]
    assert events[0]["payload"] == {"id": GROUP, "presences": [
        {"participant": "22222222222@c.us", "lastKnownPresence": "online", "lastSeen": None}]}


def test_no_synthetic_online_for_own_messages_or_non_real_ones(noweb, feed) -> None:
    feed(noweb, "presence.update", composing(ALICE, ALICE))
    own = feed(noweb, "messages.upsert", upsert(msg({"conversation": "me"}, "O", from_me=True)))
    assert names(own) == ["message.any"]
    reaction = msg({"reactionMessage": {"key": {"remoteJid": ALICE, "id": "O"}, "text": "❤"}}, "R")
    assert names(feed(noweb, "messages.upsert", upsert(reaction))) == ["message.reaction"]
    still = feed(noweb, "messages.upsert", upsert(msg({"conversation": "now"}, "N")))
    assert names(still) == ["presence.update", "message", "message.any"]


def test_synthetic_presences_of_a_batch_come_first(noweb, feed) -> None:
    bob = "33333333333@s.whatsapp.net"
    feed(noweb, "presence.update", composing(ALICE, ALICE))
    feed(noweb, "presence.update", composing(bob, bob))
    events = feed(noweb, "messages.upsert", upsert(msg({"conversation": "a"}, "A"),
                                                   msg({"conversation": "b"}, "B", chat=bob)))
    assert names(events) == ["presence.update", "presence.update", "message", "message.any",
                             "message", "message.any"]
