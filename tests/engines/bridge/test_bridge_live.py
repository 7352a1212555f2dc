"""The real bridges, started for real through the engines' plugins: Baileys and
whatsapp-web.js (on the system Chromium) with the npm packages of ``engines install``.

There is no WhatsApp network here, so the libraries fail to connect; these tests check what
hookwire makes of that, as WAHA would, and that nothing is left running afterwards. They skip
when node, the bridges' packages or Chromium are missing, except under ``CI``, where they fail
saying what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from bridge_helpers import RecordingContext, running  # type: ignore[import-not-found]
from structlog.testing import capture_logs

from core.config import SessionConfig
from engines.common.bridge import BridgeSession
from engines.common.plugin import _package_state, find_bridges

WAIT = 90  # seconds: the bound of every wait here (Chromium starts in a few seconds)


def require(engine: str) -> None:
    """Skip (fail under CI) unless ``engine``'s live bridge can run here."""
    missing: list[str] = []
    if shutil.which(os.environ.get("HOOKWIRE_NODE") or "node") is None:
        missing.append("node (Debian: apt-get install nodejs npm)")
    bridge = next(b for b in find_bridges() if b.engine == engine)
    absent, _ = _package_state(bridge.path)
    if absent:
        missing.append(f"the {engine} bridge's npm packages ({', '.join(absent)}): "
                       "run `python -m core engines install`")
    if engine == "WEBJS":
        chromium = os.environ.get("HOOKWIRE_CHROMIUM") or "/usr/bin/chromium"
        if not os.access(chromium, os.X_OK):
            missing.append(f"Chromium at {chromium} (Debian: apt-get install chromium)")
    if missing:
        message = f"the live {engine} bridge cannot run; missing: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def live_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOOKWIRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOOKWIRE_BRIDGE_BACKOFF_INITIAL", "0.05")
    monkeypatch.setenv("HOOKWIRE_BRIDGE_BACKOFF_MAX", "0.2")
    monkeypatch.setenv("HOOKWIRE_BRIDGE_STOP_TIMEOUT", "10")
    return tmp_path / "data"


def children_of_this_process() -> list[int]:
    """Live processes whose parent is the test process, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == os.getpid() and fields[0] not in "ZX":
            found.append(int(entry.name))
    return found


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (a session's auth dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes() and running(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def start_session(engine: str) -> tuple[BridgeSession, RecordingContext]:
    if engine == "NOWEB":
        from engines.noweb.plugin import create_session
    else:
        from engines.webjs.plugin import create_session
    config = SessionConfig(name=f"live-{engine.lower()}", engine=engine, source="bridge")
    session = create_session(config)
    assert isinstance(session, BridgeSession)
    return session, RecordingContext(config)


def payloads(ctx: RecordingContext, name: str) -> list[Any]:
    return [e.payload for e in ctx.envelopes if e.name == name]


def closes(ctx: RecordingContext) -> list[dict[str, Any]]:
    return [p for p in payloads(ctx, "state.change") if p.get("connection") == "close"]


def assert_nothing_left(session: BridgeSession) -> None:
    assert session.pid is None
    assert not [pid for pid in session.pids if running(pid)]
    assert processes_naming(str(session.auth_dir)) == []  # Chromium's profile is in it
    assert children_of_this_process() == []


async def test_noweb_connection_failure_becomes_state_change_and_the_bridge_restarts(
        live_env: Path) -> None:
    require("NOWEB")
    session, ctx = start_session("NOWEB")
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, ctx)
                await session.wait_until(lambda s: s.runs >= 4)  # restarted 3 times
                tg.cancel_scope.cancel()
    assert ctx.envelopes[0].name == "session.status"
    statuses = [p.status for p in payloads(ctx, "session.status")]
    assert statuses == ["STARTING"]  # a close that is not 401 restarts with no status (§7.7)
    changes = payloads(ctx, "state.change")
    assert changes[0]["connection"] == "connecting"
    close = closes(ctx)[0]
    error = close["lastDisconnect"]["error"]
    assert error["isBoom"] is True
    assert isinstance(error["output"]["statusCode"], int) and error["output"]["statusCode"] != 401
    assert isinstance(close["lastDisconnect"]["date"], str)
    raw = [p for p in payloads(ctx, "engine.event") if p.native_event == "connection.update"]
    assert raw[1].data == close  # every native record is mirrored as engine.event
    assert session.translator.bad_records == 0
    assert len(closes(ctx)) >= 3 and session.exit_codes[:3] == [75, 75, 75]
    restarts = [e for e in logs if e["event"] == "bridge disconnected; restarting"]
    assert [e["restart_in_s"] for e in restarts[:3]] == [0.05, 0.1, 0.2]  # exponential backoff
    assert any(e["event"] == "connection closed; hookwire will reconnect" and e["bridge_pid"]
               for e in logs)  # the bridge's stderr, logged
    assert not [e for e in logs if e["log_level"] == "error"]
    assert_nothing_left(session)


async def test_webjs_without_whatsapp_web_emits_starting_and_retries(live_env: Path) -> None:
    require("WEBJS")
    session, ctx = start_session("WEBJS")
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, ctx)
                await session.wait_until(lambda s: len(s.exit_codes) >= 2)
                tg.cancel_scope.cancel()
    # whatsapp-web.js emits nothing when WhatsApp Web does not load: only hookwire's STARTING.
    assert ctx.names == ["session.status"]
    assert ctx.envelopes[0].payload.status == "STARTING"
    assert session.exit_codes[:2] == [75, 75] and session.translator.bad_records == 0
    failures = [e for e in logs if e["event"] == "whatsapp-web.js could not start; hookwire will retry"]
    assert len(failures) >= 2 and all("net::ERR_" in e["error"] for e in failures)
    assert (session.auth_dir / "session").is_dir()  # LocalAuth's Chromium profile
    assert_nothing_left(session)


async def test_webjs_bridge_stops_on_the_stop_command_and_takes_chromium_with_it(
        live_env: Path) -> None:
    require("WEBJS")
    session, ctx = start_session("WEBJS")
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(session.run, ctx)
                tg.cancel_scope.cancel()  # while Chromium starts
    assert session.runs == 1 and session.exit_codes == [0]  # it obeyed stop; no SIGTERM
    assert not any(e["event"].startswith("bridge did not") for e in logs)
    assert_nothing_left(session)


def test_a_qr_code_is_drawn_on_stderr_for_a_terminal() -> None:
    require("NOWEB")
    bridge_dir = next(b for b in find_bridges() if b.engine == "NOWEB").path
    done = subprocess.run(
        [shutil.which(os.environ.get("HOOKWIRE_NODE") or "node") or "node", "--input-type=module",
         "-e", "import qrcode from 'qrcode-terminal';"
               "import { printTerminalQr } from '../../common/bridge_protocol.mjs';"
               "printTerminalQr(qrcode, '2@hookwire-test,abc,def');"],
        cwd=bridge_dir, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # records only on stdout
    rows = done.stderr.splitlines()
    assert len(rows) > 10 and all(set(row) <= set("▀▄█ ") for row in rows if row)
