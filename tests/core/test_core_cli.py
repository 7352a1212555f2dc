"""The CLI: ``main(argv) -> int`` in-process, and ``python -m core check-config`` for real."""

from __future__ import annotations

import json

import pytest

from core import __version__
from core.cli import main

GOOD = """
[kernel]
grace_seconds = 3

[log]
level = "warning"

[hello]
out = "hello-out.jsonl"
api_token = "very-secret"
"""

BAD_TYPE = "[kernel]\ngrace_seconds = 'soon'\n"


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch):
    for name in ("HOOKWIRE_CONFIG", "HOOKWIRE_STRICT_PLUGINS", "HOOKWIRE_BLOCK_PLUGINS",
                 "HELLO_PLUGIN_OUT", "HOOKWIRE_WORKER_ID"):
        monkeypatch.delenv(name, raising=False)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"hookwire {__version__}\n"


def test_usage_errors_return_2_instead_of_raising(capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "check-config" in capsys.readouterr().out


def test_plugins_json_lists_every_plugin_and_what_it_registered(installed, config_file, capsys):
    config = config_file(GOOD)
    assert main(["--config", str(config), "plugins", "--json"]) == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {"webjs", "noweb", "webhook", "hello", "broken"} <= set(rows)
    assert rows["hello"] == {
        "name": "hello", "distribution": "hookwire-hello-plugin", "version": "0.3.1",
        "module": "hookwire_hello.plugin", "loaded": True, "error": None,
        "registered": ["event hello.ping", "config [hello]", "command hello", "sink hello"],
    }
    assert rows["broken"]["loaded"] is False and rows["broken"]["registered"] == []
    assert all(rows[n]["distribution"] == "hookwire" for n in ("webjs", "noweb", "webhook"))


def test_plugins_as_text(installed, config_file, capsys):
    assert main(["--block-plugin", "broken", "--config", str(config_file(GOOD)), "plugins"]) == 0
    out = capsys.readouterr().out
    assert "hello        hookwire-hello-plugin 0.3.1  [loaded]" in out
    assert "    sink hello" in out
    assert "broken" not in out


def test_check_config_prints_the_effective_config_with_secrets_masked(installed, config_file, capsys):
    config = config_file(GOOD)
    assert main(["--block-plugin", "hookwire", "check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    header, body = out.split("\n", 1)
    assert header == f"# {config}: OK (secrets masked)"
    effective = json.loads(body)
    assert effective["kernel"]["grace_seconds"] == 3
    assert effective["log"] == {"format": "auto", "level": "warning", "progress_seconds": 5.0}
    assert effective["sessions"] == []
    assert effective["hello"] == {"out": "hello-out.jsonl", "events": ["*"], "api_token": "***"}
    assert "very-secret" not in out


def test_the_config_comes_from_the_option_or_the_environment(installed, config_file, capsys,
                                                             monkeypatch):
    from_env = config_file("[kernel]\ngrace_seconds = 7\n")
    from_option = config_file("[kernel]\ngrace_seconds = 8\n")
    monkeypatch.setenv("HOOKWIRE_CONFIG", str(from_env))
    assert main(["--block-plugin", "hookwire", "check-config"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["kernel"]["grace_seconds"] == 7
    assert main(["--block-plugin", "hookwire", "--config", str(from_option), "check-config"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["kernel"]["grace_seconds"] == 8


def test_a_bad_config_is_one_line_and_status_2(config_file, capsys):
    config = config_file(BAD_TYPE)
    assert main(["--block-plugin", "hookwire", "check-config", "--config", str(config),
                 "--log-level", "warning"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"hookwire: config error: {config}: kernel.grace_seconds: "
                            "expected a number >= 0 and <= 3600, got `str` (found 'soon')\n")


def test_a_plugin_command_runs_without_a_config(installed, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HOOKWIRE_CONFIG", str(tmp_path / "missing.toml"))  # not needed
    assert main(["--block-plugin", "broken", "hello", "--to", "tests"]) == 0
    envelope = json.loads(capsys.readouterr().out)
    assert envelope["event"] == "hello.ping"
    assert envelope["payload"] == {"greeting": "hello", "to": "tests"}


# -- the same, as a user runs it -----------------------------------------------------------------

def only_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BAD_TYPE, "kernel.grace_seconds: expected a number >= 0 and <= 3600, got `str` (found 'soon')"),
        ("[log]\nlevel = 'loud'\n", "log.level: invalid enum value 'loud' (expected one of "
                                    "'debug', 'info', 'warning', 'error') (found 'loud')"),
        ("[kernal]\n", "unknown key `kernal` (known top-level keys: hello, kernel, log, sessions)"),
        ("[kernel\n", "is not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)"),
        ("[[sessions]]\nname = 'a'\nengine = 'NOPE'\nreplay = 'r.jsonl'\n",
         "sessions[0].engine: unknown engine 'NOPE' (known: none loaded)"),
        ("[hello]\nevents = ['mesage']\n", "hello.events: unknown event 'mesage'"),
    ],
)
def test_check_config_subprocess_rejects_a_bad_file_in_one_line(run_core, config_file, tmp_path,
                                                               text, expected):
    (tmp_path / "r.jsonl").touch()
    config = config_file(text)
    # first-party plugins aside (they are not what is tested here), info logs off
    proc = run_core("--config", str(config), "check-config", "--log-level", "warning",
                    env={"HOOKWIRE_BLOCK_PLUGINS": "hookwire, broken"})
    assert proc.returncode == 2, proc.stderr
    line = only_line(proc.stderr)
    assert line.startswith("hookwire: config error: "), line
    assert expected in line, line
    if "hello" not in text:  # the kernel's own errors name the file; the plugin's is its own
        assert str(config) in line, line
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_check_config_subprocess_with_every_plugin_loaded_is_still_one_line(run_core, config_file):
    config = config_file(BAD_TYPE)
    proc = run_core("check-config", "--config", str(config), plugins=False)  # first-party only
    assert proc.returncode == 2
    assert only_line(proc.stderr).endswith("kernel.grace_seconds: expected a number >= 0 and <= 3600, got `str` "
                                           "(found 'soon')")


def test_check_config_subprocess_missing_file(run_core, tmp_path):
    proc = run_core("check-config", "--block-plugin", "hookwire", "--block-plugin", "broken",
                    "--log-level", "warning",
                    env={"HOOKWIRE_CONFIG": str(tmp_path / "absent.toml")})
    assert proc.returncode == 2
    assert only_line(proc.stderr) == (f"hookwire: config error: config file "
                                      f"'{tmp_path / 'absent.toml'}' does not exist")


def test_check_config_subprocess_prints_a_good_file_masked(run_core, config_file):
    config = config_file(GOOD)
    proc = run_core("--block-plugin", "hookwire", "--block-plugin", "broken", "check-config",
                    "--log-level=warning",
                    env={"HOOKWIRE_CONFIG": str(config), "HELLO_PLUGIN_OUT": "from-env.jsonl"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    header, body = proc.stdout.split("\n", 1)
    assert header == f"# {config}: OK (secrets masked)"
    assert json.loads(body)["hello"] == {"out": "from-env.jsonl", "events": ["*"], "api_token": "***"}
    assert "very-secret" not in proc.stdout
