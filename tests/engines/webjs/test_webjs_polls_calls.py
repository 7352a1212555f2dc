"""WEBJS ``poll.vote`` (``vote_update``), ``chat.archive`` (``chat_archived``) and
``call.received`` (``call``)."""

from __future__ import annotations

from typing import Any

from webjs_records import (
    ALICE,
    BOB,
    GROUP,
    ME,
    make_translator,
    message,
    run,
    wid,
    without_engine_event,
)

POLL_ID = "3EB0P0P0P0P0P0P0P0P0"


def vote(voter: str, poll: dict[str, Any], options: list[Any]) -> dict[str, Any]:
    return {"voter": voter, "selectedOptions": options, "interractedAtTs": 1_700_000_400_123,
            "parentMessage": poll, "parentMsgKey": poll["id"]}


def test_group_poll_vote() -> None:
    poll = message(f"true_{GROUP}_{POLL_ID}_{ME}", from_=ME, to=GROUP, msg_type="poll_creation",
                   body="Pasta or pizza?")
    data = vote(BOB, poll, [{"name": "Pizza", "localId": 1}, {"name": "", "localId": 2}])
    assert without_engine_event(run(make_translator(), "vote_update", data)) == [
        ("poll.vote", {
            "poll": {"id": f"true_{GROUP}_{POLL_ID}_{ME}", "to": GROUP, "from": ME, "fromMe": True},
            "vote": {"id": f"false_{GROUP}_{POLL_ID}_{BOB}", "to": GROUP, "from": BOB,
                     "fromMe": False, "selectedOptions": ["Pizza"],
                     "timestamp": 1_700_000_400_123},
            "_data": data})]


def test_dm_poll_vote_by_me_on_someone_elses_poll() -> None:
    poll = message(f"false_{ALICE}_{POLL_ID}", msg_type="poll_creation")
    data = vote("11111111111:3@c.us", poll, [])
    (_, payload), = without_engine_event(run(make_translator(), "vote_update", data))
    assert payload["poll"] == {"id": f"false_{ALICE}_{POLL_ID}", "to": ME, "from": ALICE,
                               "fromMe": False}
    assert payload["vote"] == {"id": f"true_{ALICE}_{POLL_ID}", "to": ALICE, "from": ME,
                               "fromMe": True, "selectedOptions": [],
                               "timestamp": 1_700_000_400_123}


def test_poll_vote_without_me_id_uses_me_placeholder() -> None:
    poll = message(f"false_{ALICE}_{POLL_ID}", msg_type="poll_creation")
    (_, payload), = without_engine_event(run(make_translator(me_id=None), "vote_update",
                                             vote(ALICE, poll, [])))
    # WAHA's getDestination falls back to the literal "me", which toCusFormat keeps
    assert payload["poll"] == {"id": f"false_{ALICE}_{POLL_ID}", "to": "me", "from": ALICE,
                               "fromMe": False}
    assert payload["vote"]["fromMe"] is False


def test_chat_archived() -> None:
    chat = {"id": wid(BOB), "name": "Bob", "isGroup": False, "timestamp": 1_700_000_500,
            "archived": True}
    assert without_engine_event(run(make_translator(), "chat_archived", [chat, True, False])) == [
        ("chat.archive", {"id": BOB, "archived": True, "timestamp": 1_700_000_500})]


def test_call_received() -> None:
    call = {"id": "CALL1", "from": ALICE, "timestamp": 1_700_000_600, "isVideo": True,
            "isGroup": False, "fromMe": False, "canHandleLocally": False,
            "webClientShouldHandle": False, "participants": {}}
    assert without_engine_event(run(make_translator(), "call", call)) == [
        ("call.received", {"id": "CALL1", "from": ALICE, "timestamp": 1_700_000_600,
                           "isVideo": True, "isGroup": False, "_data": call})]
