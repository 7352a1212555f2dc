"""Stable envelope ids of live sessions: an event the phone sends again (after a reconnect, a
bridge restart) has the same id, so the store keeps one delivery and a receiver can dedupe.
The real WEBJS and NOWEB translators on their demo recordings, the real kernel, webhook sink,
SQLite store and a receiver; and both stores ignore an event id they already have."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from webhook_receiver import Receiver
from webhook_service import write_config

import plugins.webhook.plugin as webhook_plugin
from core import hookimpl
from core.app import App
from core.engine import Emission, EngineType
from core.events import environment, make_event
from core.kernel import Kernel
from core.ulid import ulid_time_ms
from engines.noweb.translator import NowebTranslator
from engines.webjs.translator import WebjsTranslator
from plugins.webhook.redis_store import RedisDeliveryStore
from plugins.webhook.sqlite_store import SQLiteDeliveryStore
from plugins.webhook.store import NewDelivery, StoredEvent

REPO = Path(__file__).resolve().parents[3]
ME = "11111111111@c.us"
KEYED = {"message", "message.any", "message.waiting", "message.ack", "message.ack.group",
         "message.reaction", "message.revoked", "message.edited"}


def demo(engine: str) -> list[bytes]:
    return (REPO / "config" / "recordings" / f"{engine.lower()}-demo.jsonl").read_bytes().splitlines()


def translate_all(translator: Any, lines: list[bytes]) -> list[Emission]:
    return [e for n, line in enumerate(lines, 1) for e in translator.translate_line(line, str(n))]


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
def test_message_events_carry_a_stable_key_and_the_rest_none(engine: str) -> None:
    make = WebjsTranslator if engine == "WEBJS" else NowebTranslator
    # Two translators: the state a bridge restart loses (ack de-duplication) is gone.
    first, second = (translate_all(make("default", ME), demo(engine)) for _ in range(2))
    assert {e.name for e in first if e.key is not None} == {e.name for e in first} & KEYED
    assert all(e.key is None for e in first if e.name not in KEYED)
    keyed = [e for e in first if e.key is not None]
    assert len(keyed) >= 20
    assert [e.key for e in keyed] == [e.key for e in second if e.key is not None]
    # Every event of a pass is another event (message and message.any of one message, each
    # ack level ...): no two share a key, or the store would keep only one of them.
    assert len({e.key for e in keyed}) == len(keyed)


def test_the_id_is_derived_from_the_session_and_the_key() -> None:
    [message] = [e for e in translate_all(WebjsTranslator("default", ME), demo("WEBJS")[:10])
                 if e.name == "message"][:1]
    env = environment("WEBJS", None)

    def envelope(session: str, key: str | None) -> Any:
        return make_event(None, "message", message.payload, session=session, engine="WEBJS", env=env, key=key)

    one, again = envelope("default", message.key), envelope("default", message.key)
    assert one.id == again.id and one.id.startswith("evt_") and len(one.id) == 30
    assert one.id == one.id.lower()
    assert ulid_time_ms(one.id[4:]) == int(message.payload.timestamp * 1000)  # the message's time
    assert envelope("other", message.key).id != one.id  # another session's copy of the message
    assert envelope("default", None).id != envelope("default", None).id  # no key: a new id


class LiveEngine:
    """Engine ``LIVE``: a session that plays the WEBJS demo like a live bridge (no ids of its
    own), twice, through two translators, as after a reconnect the phone sends it all again."""

    @hookimpl
    def hookwire_register_engines(self, registry: Any) -> None:
        registry.add_engine(EngineType(name="LIVE", create_session=lambda cfg: LiveSession(),
                                       create_translator=WebjsTranslator))


class LiveSession:
    async def run(self, ctx: Any, *, task_status: Any) -> None:
        task_status.started()
        for _ in range(2):
            translator = WebjsTranslator(ctx.session, ME)
            for emission in translate_all(translator, demo("WEBJS")):
                await ctx.emit(emission, translator.me)


async def test_what_a_live_session_receives_twice_is_delivered_once(tmp_path: Path) -> None:
    async with Receiver() as rx:
        config = write_config(tmp_path / "hookwire.toml", kernel={"exit_when_done": True},
                              sessions=[{"name": "live", "engine": "LIVE", "source": "bridge"}],
                              webhooks=[{"url": rx.url("/hook"), "events": sorted(KEYED | {"session.status"})}])
        app = App.load(extra_plugins=[("webhook", webhook_plugin), ("live", LiveEngine())], entry_points=False)
        app.load_config(config, environ={})
        with anyio.fail_after(30):
            await Kernel(app).run(anyio.Event())
        bodies = [r.json() for r in rx.delivered()]
    one_pass = translate_all(WebjsTranslator("live", ME), demo("WEBJS"))
    keyed = [e for e in one_pass if e.name in KEYED]
    statuses = [e for e in one_pass if e.name == "session.status"]
    once = [b for b in bodies if b["event"] in KEYED]
    # Sent twice by the phone, delivered once each, under one id.
    assert len(once) == len(keyed) >= 20 and len({b["id"] for b in once}) == len(once)
    assert sorted(b["event"] for b in once) == sorted(e.name for e in keyed)
    # No stable identity: each one is a new event, delivered each time.
    twice = [b for b in bodies if b["event"] == "session.status"]
    assert len(twice) == 2 * len(statuses) and len({b["id"] for b in twice}) == len(twice)


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        opened: Any = SQLiteDeliveryStore(tmp_path / "deliveries.sqlite3")
    else:
        opened = RedisDeliveryStore(request.getfixturevalue("redis_url"),
                                    prefix=request.getfixturevalue("redis_prefix"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_both_stores_ignore_an_event_id_they_have_whatever_the_delivery_id(store: Any) -> None:
    ep, url = "hook", "http://127.0.0.1:9/hook"
    event = StoredEvent("evt_same", "message", "s1", 1, b'{"first": true}')
    await store.add([event], [NewDelivery("dlv_first", "evt_same", ep, url, "s1/c", 0)])
    # The same event again (a resumed replay, a message sent again), with a new delivery id.
    again = StoredEvent("evt_same", "message", "s1", 2, b'{"first": false}')
    await store.add([again], [NewDelivery("dlv_second", "evt_same", ep, url, "s1/c", 0)])
    assert await store.counts() == {"pending": 1}
    [claimed] = await store.claim_due(ep, now=10, limit=10, per_chat=False)
    assert (claimed.id, json.loads(claimed.body)) == ("dlv_first", {"first": True})
    # What a resumed replay asks: which events are stored, for which endpoints.
    await store.add([StoredEvent("evt_other", "message.ack", "s2", 3, b"{}")],
                    [NewDelivery("dlv_other", "evt_other", "other", url, "s2/c", 0)])
    found = await store.event_deliveries(["evt_same", "evt_other", "evt_never"])
    assert {k: (v.name, v.session, v.endpoints) for k, v in found.items()} == {
        "evt_same": ("message", "s1", {ep}), "evt_other": ("message.ack", "s2", {"other"})}
