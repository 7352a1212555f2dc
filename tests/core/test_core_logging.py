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


# -- no log line carries a URL's password -----------------------------------------------------

SECRET = "pa55word"


def _log_urls_every_way() -> None:
    """Credentials in the message, a value, a nested value, a stdlib record and an exception."""
    log = get_logger("core.test")
    log.warning(f"cannot reach http://user:{SECRET}@crm.example.com/hook",
                url=f"https://user:{SECRET}@crm.example.com/x",
                redis=f"redis://:{SECRET}@redis.internal:6379/0",
                nested={"urls": [f"http://bot:{SECRET}@a.example/"]})
    logging.getLogger("aiohttp.client").warning("POST %s failed", f"http://user:{SECRET}@b.example/")
    try:
        url = f"http://user:{SECRET}@c.example/"  # a local variable of the failing frame
        raise ValueError(f"bad target {url}")
    except ValueError:
        log.error("crashed", exc_info=True)


def test_url_credentials_are_masked_in_every_json_line():
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    _log_urls_every_way()
    text = out.getvalue()
    assert SECRET not in text, text
    mine, foreign, crashed = lines(out)
    assert mine["event"] == "cannot reach http://user:***@crm.example.com/hook"
    assert mine["url"] == "https://user:***@crm.example.com/x"
    assert mine["redis"] == "redis://:***@redis.internal:6379/0"
    assert mine["nested"] == {"urls": ["http://bot:***@a.example/"]}
    assert foreign["event"] == "POST http://user:***@b.example/ failed"
    assert crashed["exception"][0]["exc_value"] == "bad target http://user:***@c.example/"
    # frames carry no local variables (a local may hold a key)
    assert all("locals" not in frame for frame in crashed["exception"][0]["frames"])


def test_url_credentials_are_masked_on_the_console_too():
    tty = FakeTty()
    configure_logging("console", "info", stream=tty)
    _log_urls_every_way()
    text = tty.getvalue()
    assert SECRET not in text
    assert text.count("user:***@") >= 3


def test_masking_keeps_everything_but_the_password():
    from core.logging import mask_credentials

    assert mask_credentials("http://user:p@ss@host/a?mail=x@y.z#f") == "http://user:***@host/a?mail=x@y.z#f"
    assert mask_credentials("https://ghp_token@github.com/x") == "https://***@github.com/x"
    assert mask_credentials("see http://host/x?mail=a@b.com") == "see http://host/x?mail=a@b.com"
    assert mask_credentials("{'url': 'http://u:p@h'}") == "{'url': 'http://u:***@h'}"
    assert mask_credentials("user@example.com, no URL") == "user@example.com, no URL"
