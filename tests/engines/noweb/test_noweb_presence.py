"""``presence.update`` → ``presence.update`` (engine-mapping §7.6)."""

from __future__ import annotations

import pytest

ALICE = "22222222222@s.whatsapp.net"
GROUP = "123456789-987654321@g.us"


@pytest.mark.parametrize(("native", "waha"), [
    ("unavailable", "offline"), ("available", "online"), ("composing", "typing"),
    ("recording", "recording"), ("paused", "paused"), ("something-new", "something-new"),
])
def test_presence_values(noweb, feed, native: str, waha: str) -> None:
    events = feed(noweb, "presence.update",
                  {"id": ALICE, "presences": {ALICE: {"lastKnownPresence": native}}})
    assert events == [{"event": "presence.update", "payload": {
        "id": "22222222222@c.us",
        "presences": [{"participant": "22222222222@c.us", "lastKnownPresence": waha,
                       "lastSeen": None}]}}]


def test_last_seen_is_kept_and_zero_is_null(noweb, feed) -> None:
    events = feed(noweb, "presence.update", {"id": GROUP, "presences": {
        "33333333333:4@s.whatsapp.net": {"lastKnownPresence": "unavailable", "lastSeen": 1700000000},
        "55555555555@lid": {"lastKnownPresence": "available", "lastSeen": 0},
    }})
    assert events[0]["payload"] == {"id": GROUP, "presences": [
        {"participant": "33333333333@c.us", "lastKnownPresence": "offline", "lastSeen": 1700000000},
        {"participant": "55555555555@lid", "lastKnownPresence": "online", "lastSeen": None},
    ]}


def test_empty_presences_give_an_empty_list(noweb, feed) -> None:
    assert feed(noweb, "presence.update", {"id": ALICE, "presences": {}}) == [
        {"event": "presence.update", "payload": {"id": "22222222222@c.us", "presences": []}}]


def test_presence_updates_fill_the_store(noweb, feed) -> None:
    feed(noweb, "presence.update", {"id": GROUP, "presences": {
        ALICE: {"lastKnownPresence": "composing"}}})
    assert noweb.presences.last_presence(GROUP, ALICE) == "composing"
    assert noweb.presences.last_presence(ALICE, ALICE) is None
