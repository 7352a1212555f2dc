"""Config that cannot work is refused at start with exit status 2 and one line: numbers out of
their range (``nan``, ``inf``, absurd sizes), a config file that cannot be read or decoded, a
data directory that cannot be used. Through the real CLI (``core.cli.main`` in-process, and
``python -m core`` in a subprocess where the process matters: a hang, a crash loop, privileges).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from core.cli import main
from core.config import ConfigError, env_number, load_config, masked

REPO_ROOT = Path(__file__).resolve().parents[2]
_ISOLATED = ("HOOKWIRE_", "WHATSAPP_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No ``HOOKWIRE_*`` / ``WHATSAPP_*`` variable of the caller reaches these tests; the
    working directory (where the default data directory lives) is the test's own."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def check_config(capsys: pytest.CaptureFixture[str], config: Path, *options: str) -> tuple[int, str, str]:
    status = main(["--config", str(config), *options, "check-config"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_config_error(capsys: pytest.CaptureFixture[str], config: Path) -> str:
    """The single line ``check-config`` prints for a config it refuses (exit 2)."""
    status, out, err = check_config(capsys, config)
    assert status == 2, err
    assert out == ""
    assert err.startswith("hookwire: config error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.removeprefix("hookwire: config error: ").rstrip("\n")


def write(tmp_path: Path, text: str, name: str = "hookwire.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def clean_subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED)}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def run_core(tmp_path: Path, *args: str, prefix: tuple[str, ...] = (),
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "core", *args], cwd=tmp_path,
                          env=clean_subprocess_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def unprivileged() -> tuple[str, ...]:
    """A command prefix under which file permissions apply: nothing for a normal user; for
    root, ``setpriv`` without the capabilities that bypass them (DAC override)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: the permission tests need setpriv (util-linux)"
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


# -- numbers have ranges ----------------------------------------------------------------------

@pytest.mark.parametrize(("toml", "expected"), [
    ("[kernel]\nbus_buffer = 100000000000000",
     "kernel.bus_buffer: expected an integer >= 1 and <= 1000000 (found 100000000000000)"),
    ("[kernel]\nbus_buffer = 1e14",
     "kernel.bus_buffer: expected an integer >= 1 and <= 1000000, got `float` (found 100000000000000.0)"),
    ("[kernel]\nbus_buffer = 0", "kernel.bus_buffer: expected an integer >= 1 and <= 1000000 (found 0)"),
    ("[kernel]\ngrace_seconds = nan", "kernel.grace_seconds: expected a number >= 0 and <= 3600 (found nan)"),
    ("[kernel]\ngrace_seconds = inf", "kernel.grace_seconds: expected a number >= 0 and <= 3600 (found inf)"),
    ("[kernel]\ngrace_seconds = -inf", "kernel.grace_seconds: expected a number >= 0 and <= 3600 (found -inf)"),
    ("[kernel]\ngrace_seconds = 1e9",
     "kernel.grace_seconds: expected a number >= 0 and <= 3600 (found 1000000000.0)"),
])
def test_a_core_number_out_of_its_range_names_the_key_the_range_and_the_value(capsys, tmp_path, toml, expected):
    config = write(tmp_path, toml)
    assert one_config_error(capsys, config) == f"{config}: {expected}"


def test_numbers_inside_their_ranges_are_taken(capsys, tmp_path):
    import json

    config = write(tmp_path, "[kernel]\nbus_buffer = 1000000\ngrace_seconds = 0\n")
    status, out, err = check_config(capsys, config)
    assert status == 0, err
    kernel = json.loads(out.split("\n", 1)[1])["kernel"]
    assert (kernel["bus_buffer"], kernel["grace_seconds"]) == (1000000, 0)


COUNT = Annotated[int, msgspec.Meta(ge=0, le=1000)]
TIMEOUT = Annotated[float, msgspec.Meta(gt=0, le=600)]


@pytest.mark.parametrize(("text", "type_", "value"), [
    (" 7 ", COUNT, 7), ("0", COUNT, 0), ("1000", COUNT, 1000), ("0.5", TIMEOUT, 0.5), ("600", TIMEOUT, 600)])
def test_env_number_takes_what_is_in_range(text, type_, value):
    assert env_number({"V": text}, "V", type_) == value


@pytest.mark.parametrize(("text", "type_", "expected"), [
    *[(text, COUNT, "an integer >= 0 and <= 1000") for text in ("-1", "1001", "1e12", "1.5", "nan", "many")],
    *[(text, TIMEOUT, "a number > 0 and <= 600") for text in ("0", "nan", "inf", "-inf", "601", "soon")],
])
def test_env_number_names_the_variable_the_range_and_the_value(text, type_, expected):
    with pytest.raises(ConfigError) as caught:
        env_number({"HOOKWIRE_X": text}, "HOOKWIRE_X", type_)
    assert str(caught.value) == f"HOOKWIRE_X: expected {expected}, found {text!r}"


# -- credentials never shown ------------------------------------------------------------------

def test_a_config_error_never_shows_a_urls_password():
    error = ConfigError("webhooks[0]: found {'url': 'http://user:pa55word@example.com/h'}")
    assert str(error) == "webhooks[0]: found {'url': 'http://user:***@example.com/h'}"
    assert masked({"url": "redis://:pa55word@redis:6379/0", "n": 1}) == {"url": "redis://:***@redis:6379/0", "n": 1}


# -- the config file --------------------------------------------------------------------------

def test_a_config_file_that_is_not_utf8_names_the_path_the_byte_and_the_line(capsys, tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes("[kernel]\n# caf\u00e9\n".encode("latin-1"))
    assert one_config_error(capsys, config) == (
        f"config file {str(config)!r} is not valid UTF-8: byte 0xe9 at line 2 (TOML files are UTF-8)")


def test_a_byte_order_mark_is_no_error(capsys, tmp_path):
    config = tmp_path / "bom.toml"
    config.write_bytes(b"\xef\xbb\xbf[kernel]\nbus_buffer = 5\n")
    status, _, err = check_config(capsys, config)
    assert status == 0, err


def test_a_directory_or_a_missing_file_is_named(capsys, tmp_path):
    assert one_config_error(capsys, tmp_path) == f"config file {str(tmp_path)!r} is a directory"
    missing = tmp_path / "nope.toml"
    assert one_config_error(capsys, missing) == f"config file {str(missing)!r} does not exist"


def test_nesting_that_would_overflow_the_parser_is_an_error(capsys, tmp_path):
    config = write(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert one_config_error(capsys, config) == (
        f"config file {str(config)!r} is not valid TOML: arrays or tables nested too deeply")


def test_a_huge_config_file_is_refused(capsys, tmp_path):
    config = tmp_path / "huge.toml"
    config.write_bytes(b"# " + b"x" * (5 * 1024 * 1024) + b"\n")
    assert "is larger than 4194304 bytes" in one_config_error(capsys, config)


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    for path in (fifo, Path("/dev/zero")):  # /dev/zero would be read forever
        done = run_core(tmp_path, "--config", str(path), "check-config", timeout=30)
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"hookwire: config error: config file {str(path)!r} is not a regular file\n"


def test_an_unreadable_config_file_exits_2_naming_it(tmp_path):
    config = write(tmp_path, "[kernel]\nbus_buffer = 5\n")
    config.chmod(0)
    done = run_core(tmp_path, "--config", str(config), "check-config", prefix=unprivileged())
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"hookwire: config error: config file {str(config)!r} cannot be read: "
                           "Permission denied\n")


# -- the data directory -----------------------------------------------------------------------

def test_a_data_dir_that_is_a_file_is_refused_at_start_not_in_a_crash_loop(tmp_path):
    """Today's failure: the sink restarts forever on FileExistsError. Now ``run`` exits 2."""
    occupied = tmp_path / "state"
    occupied.write_text("not a directory")
    config = write(tmp_path, f"[kernel]\ndata_dir = {str(occupied)!r}\nexit_when_done = true\n"
                             "[delivery]\ndemo_receiver = true\n"
                             "[[sessions]]\nname = 'default'\nreplay = 'recording.jsonl'\n")
    (tmp_path / "recording.jsonl").write_text("")
    done = run_core(tmp_path, "--config", str(config), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"hookwire: config error: {config}: kernel.data_dir: the data directory "
                           f"{str(occupied)!r} cannot be used: it is a file, not a directory\n")


@pytest.mark.parametrize(("data_dir", "reason"), [
    ("{tmp}/file/sub", "'{tmp}/file' is a file, not a directory"),
    ("/proc", "files cannot be created in it: "),
    ("/proc/hookwire-test/data", "files cannot be created in '/proc' (to create it): "),
])
def test_an_unusable_data_dir_names_the_key_the_path_and_the_reason(capsys, tmp_path, data_dir, reason):
    (tmp_path / "file").write_text("")
    data_dir = data_dir.format(tmp=tmp_path)
    config = write(tmp_path, f"[kernel]\ndata_dir = {data_dir!r}\n")
    message = one_config_error(capsys, config)
    assert message.startswith(f"{config}: kernel.data_dir: the data directory {data_dir!r} cannot be used: "
                              f"{reason.format(tmp=tmp_path)}"), message


def test_the_data_dir_variable_is_named_when_it_is_the_culprit(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HOOKWIRE_DATA_DIR", str(tmp_path / "file"))
    config = write(tmp_path, "")
    assert one_config_error(capsys, config) == (
        f"HOOKWIRE_DATA_DIR: the data directory {str(tmp_path / 'file')!r} cannot be used: "
        "it is a file, not a directory")


def test_a_read_only_data_dir_is_refused_for_whoever_runs_it(tmp_path):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        for data_dir, reason in ((read_only, "files cannot be created in it: Permission denied"),
                                 (read_only / "state", f"files cannot be created in {str(read_only)!r} "
                                                       "(to create it): Permission denied")):
            config = write(tmp_path, f"[kernel]\ndata_dir = {str(data_dir)!r}\n")
            done = run_core(tmp_path, "--config", str(config), "check-config", prefix=unprivileged())
            assert done.returncode == 2, done.stderr
            assert done.stderr == (f"hookwire: config error: {config}: kernel.data_dir: the data directory "
                                   f"{str(data_dir)!r} cannot be used: {reason}\n")
    finally:
        read_only.chmod(0o755)


def test_a_usable_data_dir_is_checked_without_being_created(capsys, tmp_path):
    data_dir = tmp_path / "not" / "yet"
    config = write(tmp_path, f"[kernel]\ndata_dir = {str(data_dir)!r}\n")
    status, _, err = check_config(capsys, config)
    assert status == 0, err
    assert not (tmp_path / "not").exists()
    assert load_config(config, environ={}).core.kernel.data_dir == str(data_dir)
