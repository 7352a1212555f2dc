"""The WEBJS plugin: found through the ``hookwire`` entry point, registers the engine, and a
replay of the demo runs through the whole service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from webjs_records import REPO_ROOT

from core.config import SessionConfig
from core.registry import Registry
from engines.common.replay import ReplaySession
from engines.webjs.translator import WebjsTranslator

DEMO = REPO_ROOT / "config" / "recordings" / "webjs-demo.jsonl"


def test_entry_point_registers_the_webjs_engine() -> None:
    (entry,) = [ep for ep in entry_points(group="hookwire") if ep.name == "webjs"]
    plugin = entry.load()
    registry = Registry()
    plugin.hookwire_register_engines(registry)
    engine = registry.engines["WEBJS"]
    assert engine.name == "WEBJS"
    translator = engine.create_translator("s1", "11111111111@c.us", "44444444444@lid")
    assert isinstance(translator, WebjsTranslator)
    assert (translator.session, translator.me_id, translator.me_lid) == (
        "s1", "11111111111@c.us", "44444444444@lid")


def test_replay_session_carries_the_configured_identity() -> None:
    (entry,) = [ep for ep in entry_points(group="hookwire") if ep.name == "webjs"]
    registry = Registry()
    entry.load().hookwire_register_engines(registry)
    config = SessionConfig(name="default", engine="WEBJS", source="replay", replay=str(DEMO),
                           me_id="11111111111@c.us", me_push_name="Demo")
    session = registry.engines["WEBJS"].create_session(config)
    assert isinstance(session, ReplaySession)
    assert isinstance(session.translator, WebjsTranslator)
    assert session.translator.me is not None
    me = session.translator.me
    assert (me.id, me.pushName) == ("11111111111@c.us", "Demo")


def test_demo_replays_through_the_service(tmp_path: Path) -> None:
    config = tmp_path / "hookwire.toml"
    config.write_text(f'[log]\nformat = "json"\n[kernel]\ndata_dir = "{tmp_path / "data"}"\n',
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WHATSAPP_HOOK_", "HOOKWIRE_"))}
    common = [sys.executable, "-m", "core", "--config", str(config)]
    translated = subprocess.run(
        [*common, "translate", "--engine", "WEBJS", "--me", "11111111111@c.us", str(DEMO)],
        cwd=REPO_ROOT, env=env, capture_output=True, timeout=60, check=True)
    emissions = sum(len(json.loads(line)["envelopes"])
                    for line in translated.stdout.decode().splitlines())
    replayed = subprocess.run(
        [*common, "replay", str(DEMO), "--engine", "WEBJS", "--me", "11111111111@c.us"],
        cwd=REPO_ROOT, env=env, capture_output=True, timeout=60, check=False)
    assert replayed.returncode == 0, replayed.stderr.decode()
    summary = json.loads(replayed.stdout.decode().splitlines()[-1])
    assert summary["events"] == emissions + 1  # + the STARTING status of the session start
    logs = [json.loads(line) for line in replayed.stderr.decode().splitlines()
            if line.startswith("{")]
    finished, = [entry for entry in logs if entry["event"] == "replay finished"]
    assert (finished["lines"], finished["bad_records"]) == (53, 0)
