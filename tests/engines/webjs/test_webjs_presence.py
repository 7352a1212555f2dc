"""WEBJS ``presence.update`` from ``tag:presence`` and ``tag:chatstate``
(engine-mapping.md §6.5)."""

from __future__ import annotations

from typing import Any

import pytest
from webjs_records import ALICE, GROUP, make_translator, node_jid, run, without_engine_event


def presence(chat: str, participant: str, state: str, last_seen: Any = None) -> tuple[str, Any]:
    return ("presence.update", {"id": chat, "presences": [
        {"participant": participant, "lastKnownPresence": state, "lastSeen": last_seen}]})


def presence_node(**attrs: Any) -> dict[str, Any]:
    return {"tag": "presence", "attrs": {"from": node_jid("22222222222", device=3), **attrs}}


def test_presence_available_is_online_without_last_seen() -> None:
    assert without_engine_event(run(make_translator(), "tag:presence", presence_node())) == [
        presence(ALICE, ALICE, "online")]


def test_presence_unavailable_is_offline_with_last_seen_as_a_number() -> None:
    node = presence_node(type="unavailable", last="1700000123")
    assert without_engine_event(run(make_translator(), "tag:presence", node)) == [
        presence(ALICE, ALICE, "offline", 1700000123)]


@pytest.mark.parametrize(("last", "expected"), [("deny", None), ("", None), ("abc", None),
                                                (1700000999, 1700000999)])
def test_presence_last_seen_edge_cases(last: Any, expected: Any) -> None:
    node = presence_node(type="unavailable", last=last)
    (_, payload), = without_engine_event(run(make_translator(), "tag:presence", node))
    assert payload["presences"][0]["lastSeen"] == expected


def test_presence_server_from_domain_type() -> None:
    node = {"tag": "presence", "attrs": {"from": node_jid("99999", None, domainType=1)}}
    (_, payload), = without_engine_event(run(make_translator(), "tag:presence", node))
    assert payload["id"] == "99999@lid"
    node = {"tag": "presence", "attrs": {"from": node_jid("22222222222", None, domainType=0)}}
    (_, payload), = without_engine_event(run(make_translator(), "tag:presence", node))
    assert payload["id"] == ALICE


def chatstate(child: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    return {"tag": "chatstate", "attrs": {"from": node_jid("22222222222"), **attrs},
            "content": [child]}


@pytest.mark.parametrize(("child", "state"), [
    ({"tag": "composing", "attrs": {}}, "typing"),
    ({"tag": "paused", "attrs": {}}, "paused"),
    ({"tag": "available"}, "online"),
    ({"tag": "unavailable"}, "offline"),
    ({"tag": "something-new"}, "offline"),
    ({"tag": "composing", "attrs": {"media": "audio"}}, "recording"),
    ({"tag": "paused", "attrs": {"media": "audio"}}, "recording"),
])
def test_chatstate_table(child: dict[str, Any], state: str) -> None:
    assert without_engine_event(run(make_translator(), "tag:chatstate", chatstate(child))) == [
        presence(ALICE, ALICE, state)]


def test_group_chatstate_is_the_group_with_the_member_as_participant() -> None:
    node = chatstate({"tag": "composing"}, **{"from": node_jid("123456789-987654321", "g.us"),
                                               "participant": node_jid("22222222222", device=12)})
    assert without_engine_event(run(make_translator(), "tag:chatstate", node)) == [
        presence(GROUP, ALICE, "typing")]
