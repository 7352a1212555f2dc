"""The demo recording, read as a receiver would: through ``python -m core translate`` and
``python -m core replay`` in real subprocesses, and the plugin as the kernel loads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engines.noweb.translator import BAILEYS_EVENTS, NowebTranslator

REPO_ROOT = Path(__file__).resolve().parents[3]
DEMO = REPO_ROOT / "config" / "recordings" / "noweb-demo.jsonl"
ME_ARGS = ["--me", "11111111111@c.us", "--me-lid", "44444444444@lid"]

#: What each line of the demo gives (``engine.event`` aside, which every line gives last).
EXPECTED = {
    1: ["state.change"],
    2: ["session.status", "state.change"],
    3: ["session.status", "state.change"],
    4: [],
    5: ["state.change"],
    6: ["state.change"],
    7: ["state.change"],
    8: ["session.status", "state.change"],
    9: ["state.change"],
    10: ["presence.update"],
    11: ["presence.update"],
    12: ["presence.update", "message", "message.any"],
    13: ["message.any"],
    14: ["message.ack"],
    15: ["message.ack"],
    16: [],
    17: ["message", "message.any"],
    18: ["message", "message.any"],
    19: ["message.reaction"],
    20: ["message.edited"],
    21: ["message", "message.any"],
    22: ["presence.update"],
    23: ["message", "message.any"],
    24: ["message", "message.any"],
    25: ["message.revoked"],
    26: ["group.join", "group.v2.join"],
    27: ["group.v2.participants"],
    28: ["message", "message.any"],
    29: ["message.any"],
    30: ["message.ack.group"],
    31: ["message.ack.group", "message.ack.group"],
    32: ["presence.update"],
    33: ["message", "message.any"],
    34: ["message.any"],
    35: [],
    36: ["poll.vote"],
    37: ["group.v2.update"],
    38: ["group.v2.participants"],
    39: ["group.v2.participants", "group.v2.leave"],
    40: ["label.upsert"],
    41: ["label.chat.added"],
    42: [],
    43: [],
    44: ["call.received"],
    45: [],
    46: ["call.rejected"],
    47: ["state.change"],
    48: ["state.change"],
    49: ["state.change"],
    50: ["session.status", "state.change"],
}


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HOOKWIRE_", "WHATSAPP_HOOK_"))}
    env["HOOKWIRE_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_demo_recording_is_well_formed() -> None:
    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    assert 40 <= len(records) <= 80
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert {r["type"] for r in records} <= BAILEYS_EVENTS
    assert all(r["data"] is not None for r in records)


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    tmp = tmp_path_factory.mktemp("translate")
    done = subprocess.run(
        [sys.executable, "-m", "core", "--log-format", "json", "translate", "--engine", "NOWEB",
         *ME_ARGS, str(DEMO)],
        cwd=REPO_ROOT, env=clean_env(tmp), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def test_translate_gives_the_expected_events_per_line(translated) -> None:
    lines, stderr = translated
    assert "bad native record" not in stderr
    found = {}
    for line in lines:
        names = [e["event"] for e in line["envelopes"]]
        assert names[-1] == "engine.event"
        found[line["line"]] = names[:-1]
    assert found == EXPECTED


def envelopes(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for line in lines for e in line["envelopes"] if e["event"] == name]


def test_envelopes_read_as_a_receiver_expects(translated) -> None:
    lines, _ = translated
    every = [e for line in lines for e in line["envelopes"]]
    assert {e["engine"] for e in every} == {"NOWEB"}
    assert {e["session"] for e in every} == {"default"}
    assert every[-1]["me"] == {"id": "11111111111@c.us", "pushName": "Demo"}

    assert [e["payload"]["status"] for e in envelopes(lines, "session.status")] == [
        "SCAN_QR_CODE", "SCAN_QR_CODE", "WORKING", "FAILED"]
    bodies = [e["payload"]["body"] for e in envelopes(lines, "message")]
    assert bodies[:3] == ["Hi! Are we still on for Saturday? 🥾", "The view from last time 🏔️",
                          "Perfect, see you there 😊"]
    assert None in bodies  # the location, the contact card and the voice note have no text
    acks = [(e["payload"]["ackName"]) for e in envelopes(lines, "message.ack")]
    assert acks == ["DEVICE", "READ"]  # the repeated READ was dropped
    (edited,) = envelopes(lines, "message.edited")
    assert edited["payload"]["editedMessageId"] == "A5F0C3B1D2E4968712AB34CD56EF7890"
    (vote,) = envelopes(lines, "poll.vote")
    assert vote["payload"]["vote"]["selectedOptions"] == ["Bachalpsee"]
    (leave,) = envelopes(lines, "group.v2.leave")
    assert leave["payload"]["group"] == {"id": "120363049876543210@g.us"}
    timestamps = {e["payload"]["timestamp"] for e in envelopes(lines, "message")}
    assert all(isinstance(t, int) for t in timestamps)  # Longs and strings became numbers


def test_replay_runs_the_demo_through_the_service(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "core", "--log-format", "json", "replay", str(DEMO),
         "--engine", "NOWEB", *ME_ARGS],
        cwd=REPO_ROOT, env=clean_env(tmp_path), capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["events"] == sum(len(names) + 1 for names in EXPECTED.values()) + 1
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    (finished,) = [entry for entry in logs if entry.get("event") == "replay finished"]
    assert (finished["lines"], finished["bad_records"]) == (50, 0)


def test_the_plugin_registers_noweb_for_the_kernel(tmp_path: Path) -> None:
    from core.app import App

    config = tmp_path / "hookwire.toml"
    config.write_text(
        "[[sessions]]\nname = \"phone\"\nengine = \"NOWEB\"\nsource = \"replay\"\n"
        f"replay = \"{DEMO}\"\nme_id = \"11111111111:7@s.whatsapp.net\"\n"
        "me_lid = \"44444444444:7@lid\"\nme_push_name = \"Demo\"\n", encoding="utf-8")
    app = App.load()
    app.load_config(config, environ={})
    engine = app.registry.engines["NOWEB"]
    session = engine.create_session(app.config.core.sessions[0])
    translator = session.translator  # a replay session: the translator of its records
    assert isinstance(translator, NowebTranslator)
    assert (translator.me_id, translator.me_lid) == ("11111111111@c.us", "44444444444@lid")
    assert translator.me is not None and translator.me.pushName == "Demo"
    fresh = engine.create_translator("other", None, None)
    assert isinstance(fresh, NowebTranslator) and fresh.me is None
    assert [e.payload.status for e in fresh.start()] == ["STARTING"]
