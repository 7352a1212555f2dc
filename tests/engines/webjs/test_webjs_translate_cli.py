"""``python -m core translate --engine WEBJS`` in a real subprocess, on the demo recording and
on a file with bad lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from webjs_records import REPO_ROOT

DEMO = REPO_ROOT / "config" / "recordings" / "webjs-demo.jsonl"
ME = "11111111111@c.us"
GROUP = "120363041234567890@g.us"

M_ANY, MSG, E = "message.any", "message", "engine.event"
#: The event names of every line of the demo recording, in order (engine.event last).
DEMO_EVENTS: list[list[str]] = [
    ["state.change", E], ["session.status", E], ["state.change", E], ["session.status", E],
    ["state.change", E], [E],                                               # 1-6 start-up
    ["presence.update", E], ["presence.update", E], [M_ANY, E], [MSG, E],   # 7-10
    ["presence.update", E], [M_ANY, E],                                     # 11-12
    ["message.ack", E], ["message.ack", E], ["message.ack", E],             # 13-15 acks 1→3
    [M_ANY, E], [MSG, E],                                                   # 16-17 photo
    [E],                                                                    # 18 reaction < QR
    ["message.edited", E], [M_ANY, E], [MSG, E], [M_ANY, E], [MSG, E],      # 19-23
    [M_ANY, E], [MSG, E], ["message.revoked", E], ["message.waiting", E],   # 24-27
    [M_ANY, E], [MSG, E],                                                   # 28-29
    ["group.join", "group.v2.participants", E], ["group.join", "group.v2.participants", E],
    [M_ANY, E], [MSG, E], ["presence.update", E], [M_ANY, E], [MSG, E],     # 32-36
    [M_ANY, E], [E],                                                        # 37-38 group ack
    ["message.ack.group", E], ["message.ack.group", E], ["message.ack.group", E],
    ["group.v2.participants", E], [M_ANY, E], ["poll.vote", E],             # 42-44
    ["group.leave", "group.v2.participants", E],                            # 45
    [M_ANY, E], [MSG, E], ["call.received", E], ["chat.archive", E],        # 46-49
    ["presence.update", E], ["state.change", E], ["state.change", E],       # 50-52
    ["group.leave", "group.v2.leave", "group.v2.participants", E],          # 53
]


Lines = list[dict[str, Any]]


def translate(tmp_path: Path, source: Path, *extra: str) -> tuple[Lines, Lines]:
    """Run the command; return the output lines and the JSON log lines of stderr."""
    config = tmp_path / "hookwire.toml"
    config.write_text('[log]\nformat = "json"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WHATSAPP_HOOK_", "HOOKWIRE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "core", "--config", str(config), "translate", "--engine", "WEBJS",
         *extra, str(source)],
        cwd=REPO_ROOT, env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    out = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    logs = [json.loads(line) for line in result.stderr.decode("utf-8").splitlines()
            if line.startswith("{")]
    return out, logs


def test_demo_recording_translates_line_by_line(tmp_path: Path) -> None:
    out, logs = translate(tmp_path, DEMO, "--me", ME)
    input_lines = DEMO.read_text(encoding="utf-8").splitlines()
    assert len(out) == len(input_lines) == len(DEMO_EVENTS)
    assert [o["line"] for o in out] == list(range(1, len(input_lines) + 1))
    assert [[env["event"] for env in o["envelopes"]] for o in out] == DEMO_EVENTS
    for o in out:
        for envelope in o["envelopes"]:
            assert envelope["engine"] == "WEBJS" and envelope["session"] == "default"
            assert envelope["me"] == {"id": ME}  # no --me-push-name: the key is absent, never null
            assert envelope["id"].startswith("evt_")
    assert not [entry for entry in logs if entry.get("engine") == "WEBJS"
                and entry["level"] == "error"]


def test_demo_payloads_a_receiver_reads(tmp_path: Path) -> None:
    out, _ = translate(tmp_path, DEMO, "--me", ME)
    payload = {(o["line"], env["event"]): env["payload"] for o in out for env in o["envelopes"]}
    assert payload[(1, "state.change")] == "OPENING"
    assert payload[(4, "session.status")]["statuses"][-1]["status"] == "WORKING"
    photo = payload[(17, "message")]
    assert (photo["hasMedia"], photo["media"], photo["body"]) == (
        True, {"url": None, "filename": None, "mimetype": "image/jpeg"}, "This is the place 📸")
    assert [payload[(n, "message.ack")]["ackName"] for n in (13, 14, 15)] == [
        "SERVER", "DEVICE", "READ"]
    read = payload[(40, "message.ack.group")]
    assert (read["id"], read["participant"], read["fromMe"], read["ackName"]) == (
        f"true_{GROUP}_3EB0B7C8D9E0F1A2B3C4_{ME}", "33333333333@c.us", False, "READ")
    assert payload[(53, "group.v2.leave")]["group"] == {"id": GROUP}
    assert payload[(36, "message")]["body"] == "Hi all! مرحبا بالجميع 👋"


def test_without_me_there_are_no_group_acks_and_no_v2_leave(tmp_path: Path) -> None:
    out, logs = translate(tmp_path, DEMO)
    names = [env["event"] for o in out for env in o["envelopes"]]
    assert "message.ack.group" not in names and "group.v2.leave" not in names
    assert len(out) == len(DEMO_EVENTS)
    warnings = [entry for entry in logs if entry.get("event_name") == "message.ack.group"]
    assert len(warnings) == 3 and all(w["level"] == "warning" for w in warnings)


def test_bad_lines_are_counted_and_the_rest_translates(tmp_path: Path) -> None:
    source = tmp_path / "mixed.jsonl"
    good = DEMO.read_text(encoding="utf-8").splitlines()[8]  # Alice's message_create
    source.write_text("\n".join([
        good,
        '{"type": "message", "data": null}',
        "this is not json",
        '{"type": "warp_drive", "data": {}}',
        '{"type": "tag:chatstate", "data": {"tag": "chatstate", "attrs": {}}}',
        good,
    ]) + "\n", encoding="utf-8")
    out, logs = translate(tmp_path, source, "--me", ME)
    assert [[env["event"] for env in o["envelopes"]] for o in out] == [
        [M_ANY, E], [], [], [], [], [M_ANY, E]]
    errors = [entry for entry in logs
              if entry["level"] == "error" and entry.get("engine") == "WEBJS"]
    assert [e["position"] for e in errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert [e["record_type"] for e in errors] == ["message", None, "warp_drive", "tag:chatstate"]
    summary, = [entry for entry in logs if entry["event"] == "bad records skipped"]
    assert summary["bad_records"] == 4
