"""``ordering = "chat"``: FIFO per (endpoint, session, chat); a later event waits for an
earlier one's success or death, and other chats are not held back."""

from __future__ import annotations

from webhook_receiver import Receiver, fails_first
from webhook_service import build_service, message

A, B, C = "111@c.us", "222@g.us", "333@c.us"


async def test_events_of_one_chat_arrive_in_order_and_other_chats_are_not_blocked(tmp_path):
    records = []
    for n in range(3):  # interleaved: a0 b0 c0 a1 b1 c1 a2 b2 c2
        records += [message(A, n), message(B, 10 + n), message(C, 20 + n)]
    async with Receiver() as rx:
        # a0 needs two retries (0.3 s apart); c0 never succeeds and dies after its retries.
        rx.respond("/ordered", then=fails_first(2, only=lambda e: e["payload"]["seq"] == 0))
        rx.respond("/ordered-c", then=fails_first(99, only=lambda e: e["payload"]["seq"] == 20))
        webhooks = [
            {"url": rx.url("/ordered"), "events": ["message"], "ordering": "chat",
             "sessions": ["default"], "retries": {"schedule": [0.3, 0.3]}},
            {"url": rx.url("/ordered-c"), "events": ["message"], "ordering": "chat",
             "sessions": ["other"], "retries": {"schedule": [0.05]}},
        ]
        service = build_service(tmp_path, webhooks=webhooks,
                                sessions={"default": [r for r in records if r["data"]["from"] != C],
                                          "other": [r for r in records if r["data"]["from"] == C]})
        await service.run_to_end()

    def seqs(path: str, chat: str) -> list[tuple[int, int | None]]:
        return [(r.json()["payload"]["seq"], r.answered) for r in rx.at(path)
                if r.json()["payload"]["from"] == chat]

    # Chat A: nothing of a1, a2 is sent before a0 succeeded.
    assert seqs("/ordered", A) == [(0, 500), (0, 500), (0, 200), (1, 200), (2, 200)]
    # Chat B went on meanwhile: all of it arrived, in order, before a0's success.
    assert seqs("/ordered", B) == [(10, 200), (11, 200), (12, 200)]
    a0_success = next(r.at for r in rx.at("/ordered") if r.json()["payload"]["seq"] == 0 and r.answered == 200)
    assert max(r.at for r in rx.at("/ordered") if r.json()["payload"]["from"] == B) < a0_success
    # Chat C: c1 waits for c0's death, then the chat goes on.
    assert seqs("/ordered-c", C) == [(20, 500), (20, 500), (21, 200), (22, 200)]
    assert service.kernel.summary()["webhook"]["dead"] == 1


async def test_the_same_chat_in_another_session_is_another_queue(tmp_path):
    """The FIFO key is (endpoint, session, chat): two accounts in the same group are independent."""
    async with Receiver() as rx:
        rx.respond("/ordered", then=fails_first(2, only=lambda e: e["session"] == "s1" and e["payload"]["seq"] == 0))
        service = build_service(
            tmp_path, sessions={"s1": [message(B, 0), message(B, 1)], "s2": [message(B, 5), message(B, 6)]},
            webhooks=[{"url": rx.url("/ordered"), "events": ["message"], "ordering": "chat",
                       "retries": {"schedule": [0.3, 0.3]}}])
        await service.run_to_end()
    order = [(r.json()["session"], r.json()["payload"]["seq"], r.answered) for r in rx.requests]
    s1 = [o for o in order if o[0] == "s1"]
    assert s1 == [("s1", 0, 500), ("s1", 0, 500), ("s1", 0, 200), ("s1", 1, 200)]
    s1_first_success = order.index(("s1", 0, 200))
    assert {o for o in order[:s1_first_success] if o[0] == "s2"} == {("s2", 5, 200), ("s2", 6, 200)}


def test_chat_of_typed_and_plain_payloads():
    from core.events import CATALOGUE, environment
    from core.payloads import (
        GroupId,
        GroupV2LeavePayload,
        MessagePayload,
        PresencePayload,
        RevokedPayload,
    )
    from plugins.webhook.matching import chat_of

    def event(name, payload):
        return CATALOGUE[name](id="evt_x", timestamp=0, session="s", payload=payload, engine="WEBJS",
                               environment=environment("WEBJS", None))

    assert chat_of(event("message", MessagePayload(id="false_111@c.us_ABC"))) == "111@c.us"
    assert chat_of(event("message", MessagePayload(id="true_222@g.us_DEF_333@c.us"))) == "222@g.us"
    assert chat_of(event("message", {"id": "false_111@c.us_ABC"})) == "111@c.us"
    assert chat_of(event("message.revoked", RevokedPayload(after=MessagePayload(id="false_9@c.us_X")))) == "9@c.us"
    assert chat_of(event("message.revoked", {"after": {"id": "false_9@c.us_X"}})) == "9@c.us"
    assert chat_of(event("presence.update", PresencePayload(id="5@c.us"))) == "5@c.us"
    assert chat_of(event("group.v2.leave", GroupV2LeavePayload(group=GroupId(id="7@g.us")))) == "7@g.us"
    assert chat_of(event("group.v2.update", {"group": {"id": "7@g.us"}})) == "7@g.us"
    assert chat_of(event("state.change", "CONNECTED")) == ""
    assert chat_of(event("chat.archive", None)) == ""
