"""The whole path with real parts: both demo recordings replayed through the real WEBJS and
NOWEB engines (loaded from the ``hookwire`` entry points), the bus, the webhook sink and its
SQLite store, to a real aiohttp receiver on 127.0.0.1. Every body and header is checked, in
order per session, against what the engines' translators produce for the same records."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from core import __version__
from core.app import App
from core.config import DEFAULT_CONFIG_PATH
from core.kernel import Kernel

RECORDINGS = DEFAULT_CONFIG_PATH.parent / "recordings"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HMAC_KEY = "my-secret-key"
SESSIONS = {
    "alpha": ("WEBJS", RECORDINGS / "webjs-demo.jsonl", "11111111111@c.us", None),
    "beta": ("NOWEB", RECORDINGS / "noweb-demo.jsonl", "11111111111@c.us", "44444444444@lid"),
}


@pytest.fixture
async def receiver():
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


def write_config(tmp_path: Path, url: str) -> Path:
    sessions = "".join(
        f'[[sessions]]\nname = "{name}"\nengine = "{engine}"\nreplay = "{path}"\n'
        f'me_id = "{me}"\n' + (f'me_lid = "{lid}"\n' if lid else "") + 'metadata = { tenant = "acme" }\n\n'
        for name, (engine, path, me, lid) in SESSIONS.items())
    path = tmp_path / "hookwire.toml"
    path.write_text(
        f'[kernel]\ndata_dir = "{tmp_path / "data"}"\nexit_when_done = true\n\n{sessions}'
        f'[[webhooks]]\nurl = "{url}"\nevents = ["*"]\nconcurrency = 1\nhmac_key = "{HMAC_KEY}"\n'
        f'secrets = ["{SECRET}"]\n')
    return path


def expected_payloads(app: App, name: str) -> list[tuple[str, Any]]:
    """What the session's translator makes of its recording, ``engine.event`` left out (``*``)."""
    engine, path, me, lid = SESSIONS[name]
    translator = app.registry.engines[engine].create_translator(name, me, lid)
    emissions = list(translator.start())
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        emissions += translator.translate_line(line, str(number))
    return [(e.name, normalized(e.name, msgspec.json.decode(msgspec.json.encode(e.payload))))
            for e in emissions if e.name != "engine.event"]


def normalized(name: str, payload: Any) -> Any:
    """Clock readings differ between two runs: the status history's and group v2 timestamps."""
    if name == "session.status":
        payload = {**payload, "statuses": [s["status"] for s in payload["statuses"]]}
    if name.startswith("group.v2.") and isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k != "timestamp"}
    return payload


async def test_replay_through_both_engines_delivers_exact_bodies_and_headers(tmp_path, receiver):
    url, received = receiver
    app = App.load()
    app.load_config(write_config(tmp_path, url), environ={})
    kernel = Kernel(app)
    with anyio.fail_after(60):
        await kernel.run(anyio.Event())

    by_session: dict[str, list[tuple[str, Any]]] = {name: [] for name in SESSIONS}
    ids = set()
    for headers, body in received:
        envelope = msgspec.json.decode(body)
        assert list(envelope) == ["event", "id", "timestamp", "session", "metadata", "me", "payload",
                                  "engine", "environment"]
        engine, _, me, _ = SESSIONS[envelope["session"]]
        assert re.fullmatch(r"evt_[0-9a-hjkmnp-tv-z]{26}", envelope["id"])
        assert envelope["engine"] == engine and envelope["metadata"] == {"tenant": "acme"}
        assert envelope["me"]["id"] == me
        assert envelope["environment"]["engine"] == engine
        assert envelope["environment"]["version"] == __version__
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == f"hookwire/{__version__}"
        assert headers["X-Webhook-Event"] == envelope["event"]
        assert headers["X-Webhook-Timestamp"] == str(envelope["timestamp"])
        assert headers["X-Webhook-Attempt"] == "1"
        assert re.fullmatch(r"dlv_[0-9a-z]{26}", headers["X-Webhook-Request-Id"])
        assert headers["X-Webhook-Hmac"] == hmac.new(HMAC_KEY.encode(), body, hashlib.sha512).hexdigest()
        assert headers["X-Webhook-Hmac-Algorithm"] == "sha512"
        Webhook(SECRET).verify(body, headers)  # raises when the signature does not check out
        assert headers["webhook-id"] == envelope["id"]
        ids.add(envelope["id"])
        by_session[envelope["session"]].append(
            (envelope["event"], normalized(envelope["event"], envelope["payload"])))

    assert len(ids) == len(received)  # one request per event: nothing twice
    for name in SESSIONS:
        expected = expected_payloads(app, name)
        assert len(expected) > 40
        assert by_session[name] == expected  # exact payloads, in the session's order
    summary = kernel.summary()["webhook"]
    assert summary["delivered"] == len(received) and summary["dead"] == 0
