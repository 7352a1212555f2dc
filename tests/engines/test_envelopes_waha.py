"""Envelope fidelity: every envelope of both demo recordings and of the engines' extra corpora
(``tests/engines/corpus``: the events the demos do not have), through ``translate`` and through
real webhook deliveries, validates against waha-py's webhook model of its event
(:mod:`waha_webhooks`; where waha-py's generated model is wrong against WAHA it is corrected
there, field by field, with the reason)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from core.events import CATALOGUE
from tests.engines.waha_webhooks import MODELS, validate

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = REPO_ROOT / "config" / "recordings"
CORPUS = Path(__file__).parent / "corpus"
ME = "11111111111@c.us"
SOURCES = {
    "WEBJS": [RECORDINGS / "webjs-demo.jsonl", CORPUS / "webjs-extra.jsonl"],
    "NOWEB": [RECORDINGS / "noweb-demo.jsonl", CORPUS / "noweb-extra.jsonl"],
}


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without the caller's HOOKWIRE_*/WHATSAPP_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKWIRE_", "WHATSAPP_"))}
    return {**env, **extra}


def translate(engine: str, source: Path, tmp_path: Path, *flags: str,
              env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    config = tmp_path / "hookwire.toml"
    config.write_text('[log]\nformat = "json"\n')
    done = subprocess.run(
        [sys.executable, "-m", "core", "--config", str(config), "translate", "--engine", engine,
         *flags, str(source)],
        cwd=REPO_ROOT, env=env or clean_env(), capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return [envelope for line in done.stdout.decode().splitlines()
            for envelope in json.loads(line)["envelopes"]]


def test_the_corpora_cover_every_event_of_the_catalogue() -> None:
    assert set(MODELS) == set(CATALOGUE)  # a model for every event we can emit


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
def test_every_translated_envelope_validates_against_waha_py(engine: str, tmp_path: Path) -> None:
    seen: set[str] = set()
    for source in SOURCES[engine]:
        for flags in (("--me", ME), ("--me", ME, "--me-push-name", "Hook Wire"), ()):
            envelopes = translate(engine, source, tmp_path, *flags)
            assert envelopes
            if "--me-push-name" in flags:  # until the records name the account (NOWEB's creds)
                assert envelopes[0]["me"] == {"id": ME, "pushName": "Hook Wire"}
            for envelope in envelopes:
                validate(envelope)
                environment = envelope["environment"]
                assert environment["engine"] == engine and environment["tier"] == "CORE"
                assert environment["worker"] == {"id": ""}  # a string, never null
                assert isinstance(environment["browser"], str) and environment["browser"]
                me = envelope["me"]
                if me is not None:
                    assert isinstance(me.get("pushName", ""), str)  # a string or absent, never null
                seen.add(envelope["event"])
    other = {"WEBJS": {"group.v2.join", "group.v2.update", "call.accepted", "call.rejected",
                       "label.upsert", "label.deleted", "label.chat.added", "label.chat.deleted",
                       "poll.vote.failed"},
             "NOWEB": {"message.waiting", "chat.archive", "group.leave"}}[engine]
    assert seen == set(CATALOGUE) - other  # everything this engine emits was validated


def test_a_configured_worker_id_is_the_environments(tmp_path: Path) -> None:
    envelopes = translate("NOWEB", SOURCES["NOWEB"][0], tmp_path, "--me", ME,
                          env=clean_env(HOOKWIRE_WORKER_ID="worker-3"))
    assert {e["environment"]["worker"]["id"] for e in envelopes} == {"worker-3"}
    for envelope in envelopes:
        validate(envelope)


class Receiver:
    """A webhook receiver on loopback: keeps every JSON body, answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(text="ok")

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        site = web.SockSite(runner, sock)
        try:
            await site.start()
            task_status.started()
            await anyio.sleep_forever()
        finally:
            await runner.cleanup()


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
async def test_every_delivered_webhook_validates_against_waha_py(engine: str, tmp_path: Path) -> None:
    receiver = Receiver()
    config = tmp_path / "hookwire.toml"
    config.write_text(f'[kernel]\ndata_dir = "{tmp_path / "data"}"\n[log]\nformat = "json"\n')
    expected = 0
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            await tg.start(receiver.serve)
            for source in SOURCES[engine]:
                # a session's own STARTING first (``translate`` has no session), then the rest
                expected += 1 + len(translate(engine, source, tmp_path, "--me", ME))
                env = clean_env(WHATSAPP_HOOK_URL=receiver.url,
                                WHATSAPP_HOOK_EVENTS="*,engine.event",
                                WHATSAPP_HOOK_RETRIES_ATTEMPTS="0")
                done = await anyio.run_process(
                    [sys.executable, "-m", "core", "--config", str(config), "replay", str(source),
                     "--engine", engine, "--me", ME, "--session", source.stem],
                    cwd=REPO_ROOT, env=env, check=False)
                assert done.returncode == 0, done.stderr.decode()
            tg.cancel_scope.cancel()
    assert len(receiver.bodies) == expected  # every envelope was delivered, once
    firsts = {}
    for body in receiver.bodies:
        firsts.setdefault(body["session"], body)
    assert [(b["event"], b["payload"]["status"]) for b in firsts.values()] == [
        ("session.status", "STARTING")] * 2
    for body in receiver.bodies:
        validate(body)
        assert body["environment"]["worker"] == {"id": ""}
