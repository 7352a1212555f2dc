"""The kernel's commands tell the truth: ``check-config`` prints the config in effect (the
environment's overrides included), and no command prints a traceback when its reader stops
reading (``| head``). Real ``python -m core`` subprocesses, real pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXIT_BROKEN_PIPE = 141


def test_check_config_prints_the_environment_s_overrides(run_core, config_file, tmp_path):
    config = config_file("[kernel]\ndata_dir = 'from-the-file'\nworker_id = 'file-worker'\n")
    data_dir = tmp_path / "from-the-environment"
    proc = run_core("--config", str(config), "check-config", "--log-level", "warning", plugins=False,
                    env={"HOOKWIRE_DATA_DIR": str(data_dir), "HOOKWIRE_WORKER_ID": "env-worker",
                         "HOOKWIRE_ROLE": "engines", "WHATSAPP_HOOK_URL": "https://example.com/hook",
                         "WHATSAPP_HOOK_EVENTS": "message", "WHATSAPP_HOOK_HMAC_KEY": "k3y-not-shown"})
    assert proc.returncode == 0, proc.stderr
    first, body = proc.stdout.split("\n", 1)
    assert first == (f"# {config}: OK (secrets masked); the environment's settings over the file's: HOOKWIRE_DATA_DIR, "
                      "HOOKWIRE_ROLE, HOOKWIRE_WORKER_ID, WHATSAPP_HOOK_EVENTS, WHATSAPP_HOOK_HMAC_KEY, "
                      "WHATSAPP_HOOK_URL")
    effective = json.loads(body)
    assert effective["kernel"]["data_dir"] == str(data_dir)
    assert (effective["kernel"]["worker_id"], effective["kernel"]["role"]) == ("env-worker", "engines")
    [hook] = effective["webhooks"]
    assert (hook["url"], hook["events"], hook["hmac_key"]) == ("https://example.com/hook", ["message"], "***")
    assert "k3y-not-shown" not in proc.stdout


def test_check_config_shows_the_role_given_on_the_command_line(run_core, config_file):
    proc = run_core("--config", str(config_file("")), "--role", "worker", "check-config",
                    "--log-level", "warning", plugins=False)
    assert proc.returncode == 0, proc.stderr
    first, body = proc.stdout.split("\n", 1)
    assert first.endswith(": OK (secrets masked); the environment's settings over the file's: --role")
    assert json.loads(body)["kernel"]["role"] == "worker"


def _core(*args: str) -> list[str]:
    return [sys.executable, "-m", "core", *args]


def into_closed_pipe(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with stdout a pipe whose reader is already gone: its first write fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(command, stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd,
                              timeout=60, check=False)
    finally:
        os.close(write)


def into_head(command: list[str], cwd: Path) -> tuple[str, str, int]:
    """``command | head -n 1`` for real: (head's output, the command's stderr and status)."""
    producer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    head = subprocess.Popen(["head", "-n", "1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    assert producer.stdout is not None and producer.stderr is not None
    producer.stdout.close()  # head holds the read end alone: when it exits, the pipe breaks
    try:
        out, _ = head.communicate(timeout=60)
        err = producer.stderr.read()
        status = producer.wait(timeout=60)
    finally:
        producer.kill()
        head.kill()
        producer.wait()
        producer.stderr.close()
    return out.decode(), err.decode(), status


def big_recording(tmp_path: Path, copies: int = 100) -> Path:
    demo = (ROOT / "config" / "recordings" / "webjs-demo.jsonl").read_text()
    path = tmp_path / "big.jsonl"
    path.write_text(demo * copies)
    return path


@pytest.mark.parametrize(("args", "status"), [
    (("--help",), 0), (("--version",), 0),  # argparse ignores a failed write of its own
    (("plugins",), EXIT_BROKEN_PIPE), (("plugins", "--json"), EXIT_BROKEN_PIPE),
    (("check-config",), EXIT_BROKEN_PIPE), (("translate", "--engine", "WEBJS", "BIG"), EXIT_BROKEN_PIPE),
    (("engines", "status"), EXIT_BROKEN_PIPE),
], ids=lambda a: " ".join(a) if isinstance(a, tuple) else str(a))
def test_no_command_prints_a_traceback_when_its_reader_has_gone(tmp_path, args, status):
    args = tuple(str(big_recording(tmp_path)) if a == "BIG" else a for a in args)
    proc = into_closed_pipe(_core("--log-level", "warning", *args), tmp_path)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.stderr == "" and proc.returncode == status, proc.stderr


def test_translate_piped_into_head_stops_quietly(tmp_path):
    out, err, status = into_head(_core("translate", "--engine", "WEBJS", str(big_recording(tmp_path))),
                                 tmp_path)
    assert json.loads(out)["line"] == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert status == EXIT_BROKEN_PIPE
