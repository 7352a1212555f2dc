"""WEBJS session status, ``state.change``, reactions against the last QR, ``engine.event``
(engine-mapping.md §4.5, §6.3, §6.6, §8, §11.1, §11.8)."""

from __future__ import annotations

from typing import Any

import pytest
from webjs_records import (
    ALICE,
    ME,
    STATUS_MS,
    WALL_S,
    FakeClock,
    make_translator,
    run,
    without_engine_event,
)


def status(name: str, *history: str) -> tuple[str, Any]:
    return ("session.status", {"name": "default", "status": name, "statuses": [
        {"status": s, "timestamp": STATUS_MS} for s in history]})


def test_start_is_starting() -> None:
    translator = make_translator()
    assert [(e.name, e.payload.status) for e in translator.start()] == [
        ("session.status", "STARTING")]


def test_qr_authenticated_and_the_history_of_three() -> None:
    translator = make_translator()
    assert without_engine_event(run(translator, "qr", "2@ref,key,key,key,1")) == [
        status("SCAN_QR_CODE", "STARTING", "SCAN_QR_CODE")]
    assert without_engine_event(run(translator, "qr", "2@ref2,key,key,key,1")) == [
        status("SCAN_QR_CODE", "STARTING", "SCAN_QR_CODE", "SCAN_QR_CODE")]
    assert without_engine_event(run(translator, "authenticated", None)) == [
        status("WORKING", "SCAN_QR_CODE", "SCAN_QR_CODE", "WORKING")]


def test_consecutive_working_is_removed() -> None:
    translator = make_translator()
    run(translator, "authenticated", None)
    assert without_engine_event(run(translator, "authenticated", {"some": "payload"})) == []


@pytest.mark.parametrize(("native", "data"), [("auth_failure", "Unable to log in"),
                                              ("disconnected", "LOGOUT"),
                                              ("disconnected", "UNPAIRED")])
def test_failures(native: str, data: str) -> None:
    translator = make_translator()
    run(translator, "authenticated", None)
    assert without_engine_event(run(translator, native, data)) == [
        status("FAILED", "STARTING", "WORKING", "FAILED")]


def test_ready_gives_no_status_and_its_engine_event_has_no_data() -> None:
    assert run(make_translator(), "ready", None) == [("engine.event", {"event": "ready"})]
    assert run(make_translator(), "ready") == [("engine.event", {"event": "ready"})]


def test_change_state_is_the_raw_string() -> None:
    assert run(make_translator(), "change_state", "CONNECTED") == [
        ("state.change", "CONNECTED"),
        ("engine.event", {"event": "change_state", "data": "CONNECTED"})]


@pytest.mark.parametrize("state", ["OPENING", "TIMEOUT", "CONFLICT"])
def test_change_state_does_not_change_the_status(state: str) -> None:
    translator = make_translator()
    run(translator, "change_state", state)
    assert translator.status.status == "STARTING"


def reaction(timestamp: float, text: str = "❤️") -> dict[str, Any]:
    return {"id": {"fromMe": False, "remote": ALICE, "id": "RRRRRRRR",
                   "_serialized": f"false_{ALICE}_RRRRRRRR"},
            "orphan": 0, "orphanReason": None, "timestamp": timestamp, "reaction": text,
            "read": False, "msgId": {"fromMe": True, "remote": ALICE, "id": "MMMMMMMM",
                                     "_serialized": f"true_{ALICE}_MMMMMMMM"},
            "senderId": "22222222222:4@c.us", "ack": None}


def test_reaction_payload() -> None:
    assert without_engine_event(run(make_translator(), "message_reaction",
                                    reaction(1_700_000_001.5))) == [
        ("message.reaction", {"id": f"false_{ALICE}_RRRRRRRR", "from": ALICE, "fromMe": False,
                              "source": "app", "participant": "22222222222:4@c.us", "to": ALICE,
                              "timestamp": 1_700_000_001.5,
                              "reaction": {"text": "❤️", "messageId": f"true_{ALICE}_MMMMMMMM"}})]


def test_removed_reaction_has_empty_text() -> None:
    (_, payload), = without_engine_event(run(make_translator(), "message_reaction",
                                             reaction(5.0, "")))
    assert payload["reaction"]["text"] == ""


def test_reaction_older_than_the_last_qr_is_dropped_on_the_wall_clock() -> None:
    wall = FakeClock(WALL_S)
    translator = make_translator(wall=wall)
    run(translator, "qr", "2@ref")
    wall.now = WALL_S + 3600  # the clock moves on; the QR time stays
    older = run(translator, "message_reaction", reaction(WALL_S - 1))
    newer = run(translator, "message_reaction", reaction(WALL_S + 1))
    assert [n for n, _ in older] == ["engine.event"]
    assert [n for n, _ in newer] == ["message.reaction", "engine.event"]


def test_reactions_before_any_qr_are_kept() -> None:
    assert [n for n, _ in run(make_translator(), "message_reaction", reaction(1.0))] == [
        "message.reaction", "engine.event"]


def test_identity_never_changes_from_records() -> None:
    translator = make_translator()
    for native, data in (("authenticated", {"WABrowserId": "x"}), ("ready", None)):
        run(translator, native, data)
    assert translator.me is not None and translator.me.id == ME


@pytest.mark.parametrize(("native", "data"), [
    ("loading_screen", [50, "WhatsApp"]), ("change_battery", {"battery": 80, "plugged": True}),
    ("message_revoke_me", {"id": {"_serialized": "x"}}), ("code", "ABCD1234"),
    ("remote_session_saved", None), ("contact_changed", [{"id": 1}, "a@c.us", "b@c.us", True]),
    ("unread_count", {"id": "x"}), ("media_uploaded", {"id": "x"}), ("chat_removed", {"id": "x"})])
def test_other_known_events_give_only_engine_event(native: str, data: Any) -> None:
    result = run(make_translator(), native, data)
    assert [n for n, _ in result] == ["engine.event"]
    assert result[0][1]["event"] == native
