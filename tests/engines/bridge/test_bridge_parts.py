"""The bridge session's parts: line splitting, stderr logging, settings from the environment."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from engines.common.bridge_lines import LineSplitter, TooLong
from engines.common.bridge_logs import log_stderr_line
from engines.common.bridge_settings import BridgeSettings


def split(chunks: list[bytes], max_bytes: int) -> list[bytes | TooLong]:
    splitter = LineSplitter(max_bytes)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + list(splitter.close())


@given(st.lists(st.binary(max_size=40), max_size=12), st.integers(min_value=1, max_value=30))
def test_lines_are_the_same_however_the_stream_is_chunked(chunks: list[bytes], max_bytes: int) -> None:
    data = b"".join(chunks)
    expected: list[bytes | TooLong] = []
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()  # a final newline ends the last line, it does not start one
    for piece in pieces:
        expected.append(piece if len(piece) <= max_bytes else TooLong(piece[:max_bytes], len(piece)))
    assert split(chunks, max_bytes) == expected
    assert split([bytes([b]) for b in data], max_bytes) == expected  # byte by byte


def test_a_too_long_line_is_reported_once_and_the_next_line_is_intact() -> None:
    splitter = LineSplitter(4)
    out = list(splitter.feed(b"ok\n123456"))
    out += list(splitter.feed(b"789" * 1000))  # memory stays bounded: nothing kept past 4 bytes
    assert len(splitter._buffer) == 0
    out += list(splitter.feed(b"\nfine\n"))
    assert out == [b"ok", TooLong(b"1234", 3006), b"fine"]


def test_json_stderr_lines_are_logged_at_their_level_with_their_fields() -> None:
    with capture_logs() as logs:
        log_stderr_line(b'{"level":"error","msg":"boom","error":"E","session":"x","logger":"y",'
                        b'"trace":"Error: E\\n    at f (a.js:1)","err":{"message":"E",'
                        b'"stack":"Error: E\\n    at g (b.js:2)"}}', 7)
        log_stderr_line(b'{"level":20,"msg":"pino debug","time":1,"pid":9,"hostname":"h"}', 7)
        log_stderr_line(b'{"level":["odd"],"msg":123}', 7)
        log_stderr_line(b"[1, 2]", 7)
        log_stderr_line(b"not json \xff", 7, truncated=True)
        log_stderr_line(b"   ", 7)
    assert logs[0] == {"event": "boom", "log_level": "error", "error": "E", "bridge_logger": "y",
                       "trace": "Error: E", "err": {"message": "E", "stack": "Error: E"},
                       "bridge_pid": 7}
    assert logs[1] == {"event": "pino debug", "log_level": "debug", "bridge_pid": 7}
    assert logs[2] == {"event": "bridge log", "log_level": "info", "bridge_pid": 7}
    assert logs[3] == {"event": "bridge output", "log_level": "info", "line": "[1, 2]",
                       "bridge_pid": 7}
    assert logs[4] == {"event": "bridge output", "log_level": "info", "line": "not json \ufffd",
                       "bridge_pid": 7, "truncated": True}
    assert len(logs) == 5


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = BridgeSettings.from_env({
        "HOOKWIRE_NODE": "/opt/node/bin/node", "HOOKWIRE_DATA_DIR": str(tmp_path),
        "HOOKWIRE_BRIDGE_BACKOFF_INITIAL": "0.25", "HOOKWIRE_BRIDGE_BACKOFF_MAX": "4",
        "HOOKWIRE_BRIDGE_STOP_TIMEOUT": "2.5", "HOOKWIRE_BRIDGE_MAX_LINE_BYTES": "2000",
        "HOOKWIRE_BRIDGE_LOG_LEVEL": "debug", "HOOKWIRE_QR_TERMINAL": "1",
        "HOOKWIRE_BRIDGE_HEARTBEAT_SECONDS": "2", "HOOKWIRE_BRIDGE_STALL_SECONDS": "9",
        "HOOKWIRE_BRIDGE_COMMAND_TIMEOUT": "12", "HOOKWIRE_BRIDGE_MAX_IN_FLIGHT": "3",
        "HOOKWIRE_BRIDGE_FAIL_AFTER": "4", "HOOKWIRE_BRIDGE_FAIL_WINDOW": "120",
    })
    assert settings.node == "/opt/node/bin/node"
    assert settings.auth_dir("s1") == tmp_path / "sessions" / "s1" / "auth"
    assert (settings.backoff_initial, settings.backoff_max, settings.stop_timeout) == (0.25, 4.0, 2.5)
    assert settings.max_line_bytes == 2000 and settings.log_level == "debug" and settings.qr_terminal
    assert (settings.heartbeat_seconds, settings.stall_seconds, settings.command_timeout) == (2, 9, 12)
    assert (settings.max_in_flight, settings.fail_after, settings.fail_window) == (3, 4, 120)
    assert settings.watchdog_on
    default = BridgeSettings.from_env({})
    assert default == BridgeSettings()
    assert default.auth_dir("s1") == Path.cwd() / ".hookwire" / "sessions" / "s1" / "auth"
    off = BridgeSettings.from_env({"HOOKWIRE_BRIDGE_HEARTBEAT_SECONDS": "0",
                                   "HOOKWIRE_BRIDGE_FAIL_AFTER": "0"})
    assert not off.watchdog_on and off.fail_after == 0


def test_bad_settings_are_logged_and_replaced_by_the_default() -> None:
    with capture_logs() as logs:
        settings = BridgeSettings.from_env({"HOOKWIRE_BRIDGE_BACKOFF_MAX": "soon",
                                            "HOOKWIRE_BRIDGE_STOP_TIMEOUT": "-1",
                                            "HOOKWIRE_BRIDGE_MAX_LINE_BYTES": "0",
                                            "HOOKWIRE_BRIDGE_LOG_LEVEL": "loud",
                                            "HOOKWIRE_BRIDGE_MAX_IN_FLIGHT": "2.5",
                                            "HOOKWIRE_BRIDGE_FAIL_AFTER": "1001",
                                            "HOOKWIRE_BRIDGE_COMMAND_TIMEOUT": "inf",
                                            "HOOKWIRE_BRIDGE_FAIL_WINDOW": "nan"})
    assert settings == BridgeSettings()
    assert sorted(e["variable"] for e in logs) == sorted([
        "HOOKWIRE_BRIDGE_BACKOFF_MAX", "HOOKWIRE_BRIDGE_STOP_TIMEOUT",
        "HOOKWIRE_BRIDGE_MAX_LINE_BYTES", "HOOKWIRE_BRIDGE_LOG_LEVEL",
        "HOOKWIRE_BRIDGE_MAX_IN_FLIGHT", "HOOKWIRE_BRIDGE_FAIL_AFTER",
        "HOOKWIRE_BRIDGE_COMMAND_TIMEOUT", "HOOKWIRE_BRIDGE_FAIL_WINDOW"])
    assert all(e["log_level"] == "error" for e in logs)
    by_name = {e["variable"]: e for e in logs}
    assert by_name["HOOKWIRE_BRIDGE_MAX_LINE_BYTES"]["error"] == (
        "expected a whole number from 1024 to 1073741824")
    assert by_name["HOOKWIRE_BRIDGE_FAIL_AFTER"]["error"] == (
        "expected a whole number from 1 to 1000 (0: off)")
    assert by_name["HOOKWIRE_BRIDGE_STOP_TIMEOUT"]["default"] == 10.0


def test_settings_that_contradict_each_other_are_fixed_with_an_error() -> None:
    with capture_logs() as logs:
        settings = BridgeSettings.from_env({"HOOKWIRE_BRIDGE_BACKOFF_INITIAL": "10",
                                            "HOOKWIRE_BRIDGE_BACKOFF_MAX": "2",
                                            "HOOKWIRE_BRIDGE_HEARTBEAT_SECONDS": "30",
                                            "HOOKWIRE_BRIDGE_STALL_SECONDS": "40"})
    assert (settings.backoff_initial, settings.backoff_max) == (10, 10)
    assert (settings.heartbeat_seconds, settings.stall_seconds) == (30, 90)
    assert [e["variable"] for e in logs] == ["HOOKWIRE_BRIDGE_BACKOFF_MAX",
                                             "HOOKWIRE_BRIDGE_STALL_SECONDS"]
    assert "two heartbeats" in logs[1]["error"]
