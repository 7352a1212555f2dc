"""Event types: the catalogue, the envelope's keys, event ids, plugin event types."""

from __future__ import annotations

import os
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import payloads as p
from core.events import CATALOGUE, Envelope, EventTypes, Me, Worker, define_event, encoder, environment, make_event
from core.ulid import new_event_id, new_ulid, ulid_time_ms

#: webhook-contract.md §2, in the order the contract lists them.
CONTRACT_NAMES = [
    "session.status", "message", "message.any", "message.reaction", "message.ack",
    "message.ack.group", "message.waiting", "message.edited", "message.revoked", "chat.archive",
    "group.v2.join", "group.v2.leave", "group.v2.update", "group.v2.participants",
    "presence.update", "poll.vote", "poll.vote.failed", "label.upsert", "label.deleted",
    "label.chat.added", "label.chat.deleted", "call.received", "call.accepted", "call.rejected",
    "engine.event", "state.change", "group.join", "group.leave",
]

#: webhook-contract.md §1.
ENVELOPE_KEYS = {"id", "timestamp", "event", "session", "metadata", "me", "payload", "engine",
                 "environment"}

ENV = environment("WEBJS", "worker-7")

#: A payload for every catalogue name (typed where the catalogue types it).
SAMPLE_PAYLOADS: dict[str, Any] = {
    "session.status": p.SessionStatusPayload(
        name="default", status="WORKING",
        statuses=[p.StatusHistoryEntry(status="STARTING", timestamp=1700000000000)]),
    "message": p.MessagePayload(id="false_1@c.us_AAA", from_="1@c.us", fromMe=False, body="hi",
                                hasMedia=False, media=None, ack=1, ackName="SERVER",
                                data={"raw": [1, 2.5, None, "x"]}),
    "message.reaction": p.ReactionPayload(id="r1", reaction=p.ReactionBody(text="👍", messageId="m1")),
    "message.revoked": p.RevokedPayload(after=p.MessagePayload(id="a"), before=None,
                                        revokedMessageId="m0"),
    "group.v2.join": p.GroupV2JoinPayload(group={"id": "1@g.us"}, timestamp=1),
    "group.v2.leave": p.GroupV2LeavePayload(group=p.GroupId(id="1@g.us"), timestamp=2),
    "group.v2.participants": p.GroupV2ParticipantsPayload(
        group=p.GroupId(id="1@g.us"), type="join",
        participants=[p.GroupParticipant(id="2@c.us", role="participant")]),
    "presence.update": p.PresencePayload(id="1@c.us", presences=[
        p.PresenceEntry(participant="1@c.us", lastKnownPresence="typing")]),
    "engine.event": p.EngineEventPayload(native_event="message_create", data={"id": 1}),
    "state.change": "CONNECTED",
}


def sample_payload(name: str) -> Any:
    if name in SAMPLE_PAYLOADS:
        return SAMPLE_PAYLOADS[name]
    payload_type = payload_field(CATALOGUE[name]).type
    if payload_type is Any:
        return {"anything": ["goes", 1, True, None], "nested": {"k": "v"}}
    return payload_type()  # every field has a default


def payload_field(cls: type[Envelope]) -> msgspec.structs.FieldInfo:
    return next(f for f in msgspec.structs.fields(cls) if f.name == "payload")


def test_the_catalogue_is_the_contract_list():
    assert list(CATALOGUE) == CONTRACT_NAMES
    assert EventTypes().names() == sorted(CONTRACT_NAMES)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_every_catalogue_event_round_trips_through_the_decode_union(name):
    event_types = EventTypes()
    event = make_event(event_types, name, sample_payload(name), session="default", engine="WEBJS",
                       env=ENV, me=Me(id="11111111111@c.us", pushName="Demo"),
                       metadata={"user.id": "123"})
    body = encoder.encode(event)
    decoded = event_types.decoder().decode(body)
    assert type(decoded) is CATALOGUE[name]
    assert decoded == event
    assert decoded.name == name
    assert encoder.encode(decoded) == body  # byte-identical on every encode
    assert msgspec.json.decode(body)["event"] == name


def test_envelope_keys_are_exactly_the_contract():
    event = make_event(None, "message", p.MessagePayload(body="x"), session="default",
                       engine="NOWEB", env=environment("NOWEB", None), me=None,
                       metadata={"a": "b"})
    body = msgspec.json.decode(encoder.encode(event))
    assert set(body) == ENVELOPE_KEYS
    assert body["event"] == "message"
    assert body["session"] == "default"
    assert body["engine"] == "NOWEB"
    assert body["me"] is None
    assert body["metadata"] == {"a": "b"}
    assert isinstance(body["timestamp"], int)
    # WAHA's environment: a string everywhere, never null (waha-py's WAHAEnvironment needs it)
    assert list(body["environment"]) == ["version", "engine", "tier", "browser", "platform", "worker"]
    assert body["environment"]["engine"] == "NOWEB" and body["environment"]["tier"] == "CORE"
    assert body["environment"]["worker"] == {"id": ""}
    assert body["environment"]["browser"] == (os.environ.get("HOOKWIRE_CHROMIUM") or "/usr/bin/chromium")
    assert re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+", body["environment"]["platform"])


def test_metadata_is_absent_when_not_configured_and_me_is_an_object_once_known():
    event = make_event(None, "message.any", p.MessagePayload(), session="s", engine="WEBJS",
                       env=ENV, me=Me(id="1@c.us", pushName="Me"))
    body = msgspec.json.decode(encoder.encode(event))
    assert "metadata" not in body
    assert body["me"] == {"id": "1@c.us", "pushName": "Me"}
    assert body["environment"]["worker"] == {"id": "worker-7"}


def test_me_push_name_is_a_string_or_absent_never_null():
    for me, shown in ((Me(id="1@c.us", pushName=None), {"id": "1@c.us"}),
                      (Me(id="1@c.us"), {"id": "1@c.us"}),
                      (Me(id="1@c.us", pushName=""), {"id": "1@c.us", "pushName": ""})):
        event = make_event(None, "message", p.MessagePayload(), session="s", engine="WEBJS",
                           env=ENV, me=me)
        assert msgspec.json.decode(encoder.encode(event))["me"] == shown
    # what older code wrote (null) still decodes
    assert msgspec.json.decode(b'{"id":"1@c.us","pushName":null}', type=Me) == Me(id="1@c.us")
    assert msgspec.json.decode(b'{"id":null}', type=Worker).id == ""


def test_timestamp_is_unix_milliseconds():
    import time

    before = time.time_ns() // 1_000_000
    event = make_event(None, "message", p.MessagePayload(), session="s", engine="WEBJS", env=ENV)
    after = time.time_ns() // 1_000_000
    assert before <= event.timestamp <= after


ID = re.compile(r"evt_[0-9abcdefghjkmnpqrstvwxyz]{26}")


def test_event_ids_are_evt_and_a_lowercase_crockford_ulid():
    ids = [new_event_id() for _ in range(2000)]
    assert all(ID.fullmatch(i) for i in ids), ids[:3]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # monotonic, even when many share a millisecond


def test_ulids_made_in_one_millisecond_increase():
    ms = 1_900_000_000_000
    ulids = [new_ulid(ms) for _ in range(500)]
    assert ulids == sorted(ulids) and len(set(ulids)) == 500
    assert all(ulid_time_ms(u) == ms for u in ulids)
    later = new_ulid(ms + 1)
    assert later > ulids[-1] and ulid_time_ms(later) == ms + 1


def test_a_clock_going_back_does_not_break_the_order():
    ms = 1_950_000_000_000
    first = new_ulid(ms)
    second = new_ulid(ms - 5)
    assert second > first


def test_a_plugin_event_type_joins_the_decode_union():
    class HelloPayload(msgspec.Struct, kw_only=True):
        greeting: str

    hello = define_event("hello.ping", HelloPayload)
    event_types = EventTypes()
    decoder_before = event_types.decoder()
    event_types.add(hello)
    assert "hello.ping" in event_types
    assert event_types.get("hello.ping") is hello
    event = make_event(event_types, "hello.ping", HelloPayload(greeting="hi"), session="s",
                       engine="X", env=ENV)
    body = encoder.encode(event)
    assert msgspec.json.decode(body)["payload"] == {"greeting": "hi"}
    decoded = event_types.decoder().decode(body)
    assert decoded == event and type(decoded) is hello
    assert event_types.decoder() is not decoder_before  # rebuilt once, then reused
    assert event_types.decoder() is event_types.decoder()
    with pytest.raises(msgspec.ValidationError):
        decoder_before.decode(body)  # an unknown tag is a hard error: caught at the edge
    event_types.add(hello)  # the same class again is harmless


def test_registering_a_name_twice_or_a_non_event_is_refused():
    event_types = EventTypes()
    with pytest.raises(ValueError, match="'message' is already registered"):
        event_types.add(define_event("message", Any))

    class NotAnEvent(msgspec.Struct, tag="x.y"):
        pass

    with pytest.raises(TypeError):
        event_types.add(NotAnEvent)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        event_types.add(dict)  # type: ignore[arg-type]


def test_a_typed_payload_is_checked_on_decode():
    body = encoder.encode(make_event(None, "session.status", {"nope": 1}, session="s",
                                     engine="WEBJS", env=ENV))
    with pytest.raises(msgspec.ValidationError, match="payload"):
        EventTypes().decoder().decode(body)


def test_no_field_is_named_event():
    for cls in CATALOGUE.values():
        for field in msgspec.structs.fields(cls):
            assert field.name != "event" and field.encode_name != "event", cls
    payload_types = [t for t in vars(p).values()
                     if isinstance(t, type) and issubclass(t, msgspec.Struct)]
    assert payload_types
    for cls in payload_types:
        assert all(f.name != "event" for f in msgspec.structs.fields(cls)), cls
    with pytest.raises(ValueError, match="conflicts"):  # msgspec refuses a field named like the tag
        msgspec.defstruct("Bad", [("event", str)], bases=(Envelope,), tag="x.bad")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(body=st.text(), session=st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
       metadata=st.none() | st.dictionaries(st.text(), st.text(), max_size=3), raw=json_values)
def test_any_text_and_raw_data_pass_through_byte_exact(body, session, metadata, raw):
    event_types = EventTypes()
    event = make_event(event_types, "message", p.MessagePayload(body=body, data=raw),
                       session=session, engine="WEBJS", env=ENV, metadata=metadata)
    encoded = encoder.encode(event)
    decoded = event_types.decoder().decode(encoded)
    assert decoded.payload.body == body
    assert decoded.payload.data == raw
    assert decoded.session == session
    assert encoder.encode(decoded) == encoded
