"""Logging: one structlog chain for structlog and stdlib records, JSON lines or console."""

from __future__ import annotations

import io
import json
import logging

import structlog
from structlog.testing import capture_logs

from core.logging import configure_logging, get_logger


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_mode_writes_structlog_and_stdlib_records_through_one_chain():
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    with structlog.contextvars.bound_contextvars(session="default", engine="WEBJS"):
        get_logger("core.test").info("delivered", event_name="message", delivery_id="d1",
                                     attempt=2, status=200, duration_ms=12.5)
        logging.getLogger("aiohttp.client").warning("connection reset by %s", "peer")
    get_logger("core.test").debug("not shown at info")
    mine, foreign = lines(out)
    assert mine["event"] == "delivered"
    assert mine["level"] == "info" and mine["logger"] == "core.test"
    assert {k: mine[k] for k in ("event_name", "delivery_id", "attempt", "status", "duration_ms",
                                  "session", "engine")} == {
        "event_name": "message", "delivery_id": "d1", "attempt": 2, "status": 200,
        "duration_ms": 12.5, "session": "default", "engine": "WEBJS"}
    assert foreign["event"] == "connection reset by peer"
    assert foreign["level"] == "warning" and foreign["logger"] == "aiohttp.client"
    assert foreign["session"] == "default"  # contextvars reach stdlib records too
    for record in (mine, foreign):
        assert record["timestamp"].endswith("Z")


def test_json_mode_renders_exceptions_as_data_not_a_text_traceback():
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    try:
        raise ValueError("bad value")
    except ValueError:
        get_logger("core.test").error("crashed", exc_info=True)
        logging.getLogger("third.party").exception("stdlib crashed")
    mine, foreign = lines(out)
    for record in (mine, foreign):
        assert record["exception"][0]["exc_type"] == "ValueError"
        assert record["exception"][0]["exc_value"] == "bad value"


def test_level_filters_both_kinds_of_record():
    out = io.StringIO()
    configure_logging("json", "warning", stream=out)
    get_logger("core.test").info("hidden")
    logging.getLogger("aiohttp.client").info("hidden too")
    get_logger("core.test").warning("shown")
    assert [r["event"] for r in lines(out)] == ["shown"]


def test_auto_is_json_off_a_tty_and_console_on_one():
    plain = io.StringIO()
    configure_logging("auto", "info", stream=plain)
    get_logger("core.test").info("hello", session="s")
    assert json.loads(plain.getvalue())["event"] == "hello"
    tty = FakeTty()
    configure_logging("auto", "info", stream=tty)
    get_logger("core.test").info("hello", session="s")
    text = tty.getvalue()
    assert "hello" in text and "session" in text
    assert not text.lstrip().startswith("{")


def test_configuring_again_replaces_the_handler_instead_of_adding_one():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    configure_logging("json", "info", stream=second)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_hookwire", False)]
    assert len(ours) == 1
    logging.getLogger("x").warning("once")
    assert first.getvalue() == "" and len(lines(second)) == 1


def test_capture_logs_sees_loggers_created_before_it():
    configure_logging("json", "info", stream=io.StringIO())
    log = get_logger("core.early")  # bound before capture starts, as module-level loggers are
    log.info("warm up")
    with capture_logs() as logs:
        log.info("seen", event_name="message")
    assert logs == [{"event": "seen", "event_name": "message", "log_level": "info"}]
