"""``connection.update`` → ``session.status`` and ``state.change``; ``creds.update``
(engine-mapping §4.5, §7.7, §8)."""

from __future__ import annotations

from typing import Any

import pytest


def boom(code: int, message: str) -> dict[str, Any]:
    return {"data": None, "isBoom": True, "isServer": False, "output": {
        "statusCode": code, "payload": {"statusCode": code, "error": "x", "message": message},
        "headers": {}}}


def close(code: int | None) -> dict[str, Any]:
    error = boom(code, "closed") if code is not None else None
    return {"connection": "close", "lastDisconnect": {"error": error,
                                                      "date": "2025-11-25T09:00:00.000Z"}}


def statuses(events: list[dict[str, Any]]) -> list[str]:
    return [e["payload"]["status"] for e in events if e["event"] == "session.status"]


def run(noweb: Any, feed: Any, *updates: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for update in updates:
        found += statuses(feed(noweb, "connection.update", update))
    return found


def test_start_is_starting(noweb) -> None:
    (emission,) = noweb.start()
    assert emission.name == "session.status"
    assert emission.payload.status == "STARTING"


def test_state_change_is_the_raw_update_and_comes_after_the_status(noweb, feed, now_ms) -> None:
    noweb.start()
    update = {"qr": "2@abc,def,ghi,jkl", "connection": None}
    events = feed(noweb, "connection.update", update, engine_event=True)
    assert [e["event"] for e in events] == ["session.status", "state.change", "engine.event"]
    assert events[0]["payload"] == {"name": "default", "status": "SCAN_QR_CODE", "statuses": [
        {"status": "STARTING", "timestamp": now_ms}, {"status": "SCAN_QR_CODE", "timestamp": now_ms}]}
    assert events[1]["payload"] == update
    assert events[2]["payload"] == {"event": "connection.update", "data": update}


def test_pairing_flow(noweb, feed) -> None:
    noweb.start()
    found = run(noweb, feed,
                {"connection": "connecting", "receivedPendingNotifications": False},
                {"qr": "2@one"}, {"qr": "2@two"}, {"isNewLogin": True}, close(515),
                {"connection": "connecting"}, {"connection": "open"},
                {"receivedPendingNotifications": True})
    assert found == ["SCAN_QR_CODE", "SCAN_QR_CODE", "WORKING"]


def test_history_keeps_the_last_three(noweb, feed) -> None:
    noweb.start()
    events = feed(noweb, "connection.update", {"qr": "2@q"})
    events += feed(noweb, "connection.update", {"connection": "open"})
    events += feed(noweb, "connection.update", close(401))
    last = [e for e in events if e["event"] == "session.status"][-1]["payload"]
    assert [s["status"] for s in last["statuses"]] == ["SCAN_QR_CODE", "WORKING", "FAILED"]


def test_working_is_not_repeated(noweb, feed) -> None:
    noweb.start()
    found = run(noweb, feed, {"connection": "open"}, close(428), {"connection": "connecting"},
                {"connection": "open"})
    assert found == ["WORKING"]


@pytest.mark.parametrize(("code", "expected"), [
    (515, []), (428, []), (408, []), (440, []), (500, []), (None, []), (401, ["FAILED"]),
])
def test_close_while_working(noweb, feed, code: int | None, expected: list[str]) -> None:
    noweb.start()
    run(noweb, feed, {"connection": "open"})
    assert run(noweb, feed, close(code)) == expected


@pytest.mark.parametrize(("code", "expected"), [(515, []), (428, ["FAILED"]), (401, ["FAILED"])])
def test_close_while_showing_a_qr(noweb, feed, code: int, expected: list[str]) -> None:
    noweb.start()
    run(noweb, feed, {"qr": "2@q"})
    assert run(noweb, feed, close(code)) == expected


def test_close_without_last_disconnect_changes_nothing(noweb, feed) -> None:
    noweb.start()
    run(noweb, feed, {"qr": "2@q"})
    events = feed(noweb, "connection.update", {"connection": "close"})
    assert events == [{"event": "state.change", "payload": {"connection": "close"}}]
    assert noweb.bad_records == 0
    assert noweb.status.status == "SCAN_QR_CODE"


def test_new_login_restarts_without_status(noweb, feed) -> None:
    noweb.start()
    assert run(noweb, feed, {"isNewLogin": True, "qr": None}) == []


def test_boom_error_is_passed_through_in_state_change(noweb, feed) -> None:
    update = close(428)
    assert feed(noweb, "connection.update", update) == [{"event": "state.change",
                                                         "payload": update}]


def test_creds_update_teaches_our_account_and_hides_the_keys(make_translator, feed) -> None:
    translator = make_translator(me_id=None, me_lid=None)
    assert translator.me is None
    creds = {"me": {"id": "11111111111:12@s.whatsapp.net", "name": "Demo",
                    "lid": "44444444444:12@lid"},
             "noiseKey": {"private": "c2VjcmV0", "public": "cHVibGlj"}, "registered": True}
    events = feed(translator, "creds.update", creds, engine_event=True)
    assert events == [{"event": "engine.event", "payload": {
        "event": "creds.update", "data": {"me": creds["me"]}}}]
    assert (translator.me_id, translator.me_lid) == ("11111111111@c.us", "44444444444@lid")
    assert translator.me is not None and translator.me.pushName == "Demo"


def test_creds_update_without_me_shows_nothing(noweb, feed) -> None:
    events = feed(noweb, "creds.update", {"signedPreKey": {"keyId": 1}}, engine_event=True)
    assert events == [{"event": "engine.event", "payload": {"event": "creds.update", "data": {}}}]
    assert noweb.me_id == "11111111111@c.us"
