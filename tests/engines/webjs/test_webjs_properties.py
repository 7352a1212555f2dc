"""Properties: no input makes the WEBJS translator raise, and its mapper fails only with
``BadRecord`` (anything else would be a mapper bug hidden by the base class's safety net)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webjs_records import REPO_ROOT, make_translator

from engines.common.records import BadRecord, decode_record
from engines.webjs.native import NATIVE_EVENTS

#: Keys the mappers read, so that generated objects reach deep into them.
KEYS = ["id", "_serialized", "remote", "fromMe", "participant", "_data", "from", "to", "author",
        "ack", "body", "type", "timestamp", "hasMedia", "mimetype", "filename", "location",
        "latitude", "longitude", "name", "address", "url", "description", "isLive", "comment",
        "vCards", "quotedMsg", "caption", "protocolMessageKey", "tag", "attrs", "content", "$1",
        "user", "server", "domainType", "device", "last", "media", "recipient", "items", "item",
        "participants", "key", "jid", "recipientIds", "msgId", "senderId", "reaction", "voter",
        "parentMessage", "selectedOptions", "interractedAtTs", "isVideo", "isGroup"]

scalars = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.sampled_from(["", "unavailable", "composing", "audio", "read", "deny", "add",
                              "promote", "revoked", "status@broadcast", "x@g.us", "1@c.us",
                              "true_1@c.us_AB", "false_2@g.us_CD_3@c.us", "a_b", "1700000000",
                              "\u0000", "🍝", "\ufeff"])
           | st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6),
    max_leaves=30,
)
known_types = st.sampled_from(sorted(NATIVE_EVENTS))

#: Valid records of every kind the demo holds: mutating them reaches the deep paths that
#: random JSON rarely forms (a message with a parsable id, a node with a JID attribute …).
DEMO = Path(REPO_ROOT, "config", "recordings", "webjs-demo.jsonl")
TEMPLATES = [json.loads(line) for line in DEMO.read_text("utf-8").splitlines() if line.strip()]


@st.composite
def mutated_records(draw: st.DrawFn) -> dict[str, Any]:
    """A demo record with a few subtrees replaced by arbitrary JSON or removed."""
    record = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(1, 3))):
        parent: Any = record
        key: Any = "data"
        while True:  # walk down to a random node
            node = parent[key]
            children = list(node) if isinstance(node, dict) else list(range(len(node))) \
                if isinstance(node, list) else []
            if not children or draw(st.integers(0, 3)) == 0:
                break
            parent, key = node, draw(st.sampled_from(children))
        if isinstance(parent, dict) and key != "data" and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(json_values)
    return record


def check_emissions(emissions: list[Any]) -> None:
    for emission in emissions:
        msgspec.json.encode(emission.payload)  # every payload encodes
    if emissions:
        assert emissions[-1].name == "engine.event"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    translator = make_translator()
    emissions = translator.translate_line(raw, "fuzz")
    check_emissions(emissions)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(known_types, json_values)
def test_arbitrary_json_under_known_types_never_raises(record_type: str, data: Any) -> None:
    line = json.dumps({"type": record_type, "data": data}, ensure_ascii=False)
    translator = make_translator()
    emissions = translator.translate_line(line, "fuzz")
    check_emissions(emissions)
    assert translator.bad_records in (0, 1)
    assert (translator.bad_records == 1) == (emissions == [])
    # the mapper itself fails only with BadRecord
    try:
        emissions = make_translator().map(decode_record(line), "fuzz")
    except BadRecord:
        return
    check_emissions(emissions)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_records())
def test_mutated_demo_records_fail_only_with_bad_record(record: dict[str, Any]) -> None:
    line = json.dumps(record, ensure_ascii=False)
    translator = make_translator()
    check_emissions(translator.translate_line(line, "fuzz"))
    try:
        emissions = make_translator().map(decode_record(line), "fuzz")
    except BadRecord:
        return
    check_emissions(emissions)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(known_types, json_values), min_size=2, max_size=8))
def test_sequences_keep_working(records: list[tuple[str, Any]]) -> None:
    """Whatever came before, a good message still maps."""
    translator = make_translator()
    for record_type, data in records:
        translator.translate_line(json.dumps({"type": record_type, "data": data}), "fuzz")
    good = {"id": {"_serialized": "false_1@c.us_ABC"}, "body": "ok", "from": "1@c.us"}
    emissions = translator.translate_line(json.dumps({"type": "message", "data": good}), "end")
    assert [e.name for e in emissions] == ["message", "engine.event"]
