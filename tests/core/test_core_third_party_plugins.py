"""A stranger's plugins, installed for real, as ``python -m core`` meets them.

``hookwire-hello-plugin`` (an event type, a config section, a sink, a command) and
``hookwire-broken-plugin`` (fails on import) are pip-installed into a directory put on
``PYTHONPATH`` of each ``python -m core`` subprocess (see ``conftest.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from scripted_parts import ScriptedEngine, emits, write_script

from core.app import App
from core.kernel import Kernel
from core.supervisor import Backoff

BROKEN_ERROR = "RuntimeError: hookwire-broken-plugin fails on import (on purpose)"
STRICT_LINE = (f"hookwire: plugin 'broken' from distribution 'hookwire-broken-plugin' failed to "
               f"load: {BROKEN_ERROR}")
HELLO_REGISTERED = ["event hello.ping", "config [hello]", "command hello", "sink hello"]
ID = re.compile(r"evt_[0-9a-hjkmnp-tv-z]{26}")

#: A tiny whatsapp-web.js recording: connection events only (engine-mapping.md §6.3).
WEBJS_RECORDING = [
    {"type": "change_state", "data": "OPENING"},
    {"type": "qr", "data": "2@test-qr"},
    {"type": "authenticated", "data": None},
    {"type": "ready", "data": None},
    {"type": "change_state", "data": "CONNECTED"},
]


def log_records(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.fixture
def hello_config(config_file) -> Path:
    return config_file('[hello]\nout = "hello.jsonl"\n')


def test_plugins_lists_the_third_party_plugin_with_its_distribution(run_core, hello_config):
    proc = run_core("--config", str(hello_config), "--log-format", "json", "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in map(json.loads, proc.stdout.splitlines())}
    assert rows["hello"] == {
        "name": "hello", "distribution": "hookwire-hello-plugin", "version": "0.3.1",
        "module": "hookwire_hello.plugin", "loaded": True, "error": None,
        "registered": HELLO_REGISTERED,
    }
    assert rows["broken"] == {
        "name": "broken", "distribution": "hookwire-broken-plugin", "version": "0.0.1",
        "module": "hookwire_broken.plugin", "loaded": False, "error": BROKEN_ERROR,
        "registered": [],
    }
    first_party = {n: r for n, r in rows.items() if r["distribution"] == "hookwire"}
    assert set(first_party) == {"webjs", "noweb", "webhook", "engines", "api"}
    assert all(r["loaded"] for r in first_party.values()), first_party
    assert "engine WEBJS" in rows["webjs"]["registered"]


def test_a_broken_plugin_is_logged_by_distribution_and_the_rest_load(run_core):
    proc = run_core("--log-format", "json", "hello", "--to", "stranger")
    assert proc.returncode == 0, proc.stderr
    failures = [r for r in log_records(proc.stderr) if r["event"] == "plugin failed to load"]
    assert len(failures) == 1
    assert {k: failures[0][k] for k in ("plugin", "distribution", "version", "error", "level")} == {
        "plugin": "broken", "distribution": "hookwire-broken-plugin", "version": "0.0.1",
        "error": BROKEN_ERROR, "level": "error"}
    assert "Traceback" not in proc.stderr
    envelope = json.loads(proc.stdout)  # the plugin's own command, its own event type
    assert envelope["event"] == "hello.ping" and ID.fullmatch(envelope["id"])
    assert envelope["payload"] == {"greeting": "hello", "to": "stranger"}


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--strict-plugins"], {}), ([], {"HOOKWIRE_STRICT_PLUGINS": "1"})],
    ids=["flag", "env"],
)
def test_strict_makes_the_broken_plugin_fatal_in_one_line(run_core, hello_config, args, env):
    proc = run_core(*args, "--config", str(hello_config), "plugins", env=env)
    assert proc.returncode == 2
    assert proc.stderr == STRICT_LINE + "\n"
    assert proc.stdout == ""


def test_strict_off_explicitly(run_core, hello_config):
    proc = run_core("--config", str(hello_config), "plugins", env={"HOOKWIRE_STRICT_PLUGINS": "0"})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--block-plugin", "hookwire-broken-plugin"], {}),
        ([], {"HOOKWIRE_BLOCK_PLUGINS": "some-other-plugin, hookwire-broken-plugin"}),
        (["--block-plugin", "broken"], {}),
    ],
    ids=["flag", "env", "entry-point-name"],
)
def test_a_blocked_plugin_is_skipped_even_when_strict(run_core, hello_config, args, env):
    proc = run_core("--strict-plugins", *args, "--config", str(hello_config), "--log-format",
                    "json", "plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    names = [json.loads(line)["name"] for line in proc.stdout.splitlines()]
    assert "broken" not in names and "hello" in names
    records = log_records(proc.stderr)
    assert not [r for r in records if r["level"] == "error"], records
    assert [(r["plugin"], r["distribution"]) for r in records if r["event"] == "plugin blocked"] == [
        ("broken", "hookwire-broken-plugin")]


@pytest.mark.parametrize("out_from", ["config", "env"])
def test_the_hello_sink_receives_the_events_of_a_replay(run_core, config_file, tmp_path, out_from):
    recording = tmp_path / "webjs.jsonl"
    recording.write_text("".join(json.dumps(r) + "\n" for r in WEBJS_RECORDING))
    if out_from == "config":
        config, env = config_file('[hello]\nout = "out/hello.jsonl"\n'), {}
    else:
        config, env = config_file(""), {"HELLO_PLUGIN_OUT": "out/hello.jsonl"}
    proc = run_core("--config", str(config), "--log-level", "warning", "replay", str(recording),
                    "--engine", "webjs", "--session", "s1", env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    lines = [json.loads(line) for line in (tmp_path / "out" / "hello.jsonl").read_text().splitlines()]
    names = [line["event_name"] for line in lines]
    assert names.count("state.change") == 2  # OPENING, CONNECTED
    assert "session.status" in names
    assert "engine.event" not in names  # `*` leaves out the raw firehose
    assert {line["session"] for line in lines} == {"s1"}
    ids = [line["id"] for line in lines]
    assert all(ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
    assert summary["hello"] == {"written": len(lines), "dropped": 0}
    assert summary["events"] >= len(lines)


async def test_the_hello_sink_in_process_with_a_scripted_engine(installed, tmp_path):
    """The same path without a first-party engine: the plugin found through its entry point,
    a test engine added with ``extra_plugins``."""
    app = App.load(block=["hookwire", "broken"], extra_plugins=[("scripted", ScriptedEngine())])
    script = write_script(tmp_path / "s.jsonl", emits("a", "b") + emits("c", name="message.any")
                          + emits("d", name="message.ack"))
    config = tmp_path / "hookwire.toml"
    config.write_text(f"[kernel]\nexit_when_done = true\n[hello]\nout = 'hello.jsonl'\n"
                      f"events = ['message', 'message.any']\n"
                      f"[[sessions]]\nname = 'x'\nengine = 'SCRIPT'\nreplay = '{script}'\n")
    app.load_config(config, environ={})
    [sink] = app.registry.sinks
    assert (sink.name, sink.overflow, sink.events) == ("hello", "drop", {"message", "message.any"})
    kernel = Kernel(app, restart_backoff=lambda: Backoff(initial=0.01))
    with anyio.fail_after(5):
        await kernel.run(anyio.Event())
    lines = [json.loads(line) for line in (tmp_path / "hello.jsonl").read_text().splitlines()]
    assert [line["event_name"] for line in lines] == ["message", "message", "message.any"]
    assert kernel.summary()["hello"] == {"written": 3, "dropped": 0}
