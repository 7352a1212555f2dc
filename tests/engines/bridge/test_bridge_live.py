"""The real bridges, started for real through the engines' plugins: Baileys and
whatsapp-web.js (on the system Chromium) with the npm packages of ``engines install``.

There is no WhatsApp network here, so the libraries fail to connect; these tests check what
hookwire makes of that, as WAHA would, and that nothing is left running afterwards. They skip
when node, the bridges' packages or Chromium are missing, except under ``CI``, where they fail
saying what to install.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest
from bridge_helpers import RecordingContext, running  # type: ignore[import-not-found]
from structlog.testing import capture_logs

from core.config import SessionConfig
from core.engine import CommandError
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
    monkeypatch.setenv("HOOKWIRE_BRIDGE_HEARTBEAT_SECONDS", "1")
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


def start_session(engine: str, **config: Any) -> tuple[BridgeSession, RecordingContext]:
    if engine == "NOWEB":
        from engines.noweb.plugin import create_session
    else:
        from engines.webjs.plugin import create_session
    config = msgspec.convert({"name": f"live-{engine.lower()}", "engine": engine, "source": "bridge",
                              **config}, SessionConfig)
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
    assert all(e["log_level"] == "warning" for e in restarts)
    closed = [e for e in logs if e["event"] == "connection closed; hookwire will reconnect"]
    assert closed and all(e["bridge_pid"] and e["log_level"] == "warning" for e in closed)
    assert restarts[0]["error"].startswith("connection closed; hookwire will reconnect: ")
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
    # the same cause as NOWEB's closed connection, at the same level
    assert all(e["log_level"] == "warning" for e in failures)
    assert not [e for e in logs if e["log_level"] == "error"]
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


@pytest.mark.parametrize("engine", ["NOWEB", "WEBJS"])
async def test_a_session_that_never_connects_becomes_failed_with_the_same_logs_on_both_engines(
        live_env: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    require(engine)
    monkeypatch.setenv("HOOKWIRE_BRIDGE_FAIL_AFTER", "2")
    session, ctx = start_session(engine)
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            await session.run(ctx, task_status=anyio.TASK_STATUS_IGNORED)  # ends by itself
    statuses = [p.status for p in payloads(ctx, "session.status")]
    assert statuses == ["STARTING", "FAILED"]
    assert session.runs == 2 and session.health().failed and session.restarts == 1
    levels = {e["event"]: e["log_level"] for e in logs}
    assert levels["bridge disconnected; restarting"] == "warning"  # a warning per failed try
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == [
        "2 connection attempts failed within 600 s; the bridge is not restarted"]
    reason = session.health().last_error
    assert errors[0]["error"] == reason
    assert reason.startswith("connection closed; hookwire will reconnect: " if engine == "NOWEB"
                             else "whatsapp-web.js could not start; hookwire will retry: net::ERR_")
    assert_nothing_left(session)


class RecordingProxy:
    """An HTTP proxy on loopback that records each request head: it asks for credentials
    (407) when there are none (if ``auth``), then refuses the tunnel (502) after ``delay``
    seconds, so nothing reaches a network (and a bridge lives that long)."""

    def __init__(self, *, auth: bool = True, delay: float = 0.0) -> None:
        self.auth = auth
        self.delay = delay
        self.heads: list[str] = []
        self.changed = anyio.Event()
        self.port = 0

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener:
            task_status.started()
            await listener.serve(self._handle)

    async def _handle(self, stream: Any) -> None:
        async with stream:
            head = b""
            with anyio.move_on_after(10):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    try:
                        head += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
            text = head.decode("latin-1")
            self.heads.append(text)
            self.changed.set()
            self.changed = anyio.Event()
            if self.auth and "proxy-authorization:" not in text.lower():
                answer = (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                          b'Proxy-Authenticate: Basic realm="hookwire-test"\r\nContent-Length: 0\r\n\r\n')
            else:
                await anyio.sleep(self.delay)  # the proxy is slow to refuse: not a readiness wait
                answer = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            try:
                await stream.send(answer)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    async def wait_until(self, predicate: Any) -> None:
        while not predicate(self.heads):
            await self.changed.wait()


async def bridge_answer(session: BridgeSession, command: str, args: dict[str, Any]) -> CommandError:
    """The error a running bridge answers ``command`` with. Without a network a bridge lives
    for a moment and is restarted, so a command that meets no bridge, or whose bridge exits
    before answering (``gone``), is sent again to the next one."""
    for _ in range(10):
        seen = session.heartbeats
        await session.wait_until(lambda s: (s.pid is not None and s.heartbeats > seen)
                                 or s.health().failed)
        assert not session.health().failed, session.health()
        try:
            result = await session.request(command, args, timeout=60)
        except CommandError as exc:
            if exc.code == "gone" or "no bridge is running" in exc.message:
                continue
            return exc
        raise AssertionError(f"{command} succeeded without a network: {result!r}")
    raise AssertionError(f"no bridge lived long enough to answer {command}")


@pytest.mark.parametrize("engine", ["NOWEB", "WEBJS"])
async def test_the_real_bridges_answer_commands_with_a_clear_error_never_a_hang(
        live_env: Path, engine: str) -> None:
    require(engine)
    # Through a proxy that takes 3 s to refuse the tunnel: each bridge lives that long.
    proxy = RecordingProxy(auth=False, delay=3.0)
    with anyio.fail_after(WAIT * 2):
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.serve)
            session, ctx = start_session(engine, proxy={"server": f"127.0.0.1:{proxy.port}"})
            await tg.start(session.run, ctx)
            await session.wait_until(lambda s: s.heartbeats >= 1)  # the bridge is up and talking
            with pytest.raises(CommandError) as me:
                await session.request("me", {})
            bad_phone = await bridge_answer(session, "pairing-code", {"phone": "call me"})
            began = anyio.current_time()
            pairing = await bridge_answer(session, "pairing-code", {"phone": "+12345678901"})
            took = anyio.current_time() - began
            tg.cancel_scope.cancel()
    assert me.value.code == "not_working"  # hookwire knows: the session is not WORKING
    assert bad_phone.code == "invalid" and "international format" in bad_phone.message
    # no network: the library fails to get a code, with its reason, well before the timeout
    assert pairing.code in ("failed", "not_working"), pairing
    assert pairing.message and took < 45
    assert_nothing_left(session)


@pytest.mark.parametrize("engine", ["NOWEB", "WEBJS"])
async def test_stop_asked_of_a_real_bridge_ends_the_session(live_env: Path, engine: str) -> None:
    require(engine)
    proxy = RecordingProxy(auth=False, delay=10.0)  # the bridge stays up, connecting
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(proxy.serve)
                session, ctx = start_session(engine, proxy={"server": f"127.0.0.1:{proxy.port}"})
                async with anyio.create_task_group() as inner:
                    await inner.start(session.run, ctx)
                    await session.wait_until(lambda s: s.heartbeats >= 1)
                    assert await session.request("stop", {}) is None
                # run() returned by itself: the session ended
                tg.cancel_scope.cancel()
    assert session.runs == 1 and session.exit_codes == [0] and not session.health().failed
    assert any(e["event"] == "bridge stopped on request; session ended" for e in logs)
    assert not any(e["event"].startswith("bridge did not") for e in logs)  # no SIGTERM needed
    assert_nothing_left(session)


@pytest.mark.parametrize("engine", ["NOWEB", "WEBJS"])
async def test_the_real_bridges_connect_through_the_sessions_proxy_with_its_credentials(
        live_env: Path, engine: str) -> None:
    require(engine)
    proxy = RecordingProxy()
    expected = "Basic " + base64.b64encode(b"hook:wire s3cret").decode()

    def authenticated(heads: list[str]) -> bool:
        return any(h.startswith("CONNECT web.whatsapp.com:443 ")
                   and f"proxy-authorization: {expected}".lower() in h.lower() for h in heads)

    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(proxy.serve)
                session, ctx = start_session(
                    engine, proxy={"server": f"127.0.0.1:{proxy.port}", "username": "hook",
                                   "password": "wire s3cret"},
                    debug=True, device_name="Front desk", browser_name="Firefox",
                    mark_online=False, tags_events_on=True)
                await tg.start(session.run, ctx)
                await proxy.wait_until(authenticated)
                await session.wait_until(lambda s: s.heartbeats >= 1)
                tg.cancel_scope.cancel()
    # WhatsApp's connection went through the session's proxy, with its credentials (Chromium
    # sends its own update checks through it too)
    assert authenticated(proxy.heads)
    assert session.exit_codes[0] != 2  # the bridge took every flag (2 is a usage error)
    assert "wire s3cret" not in " ".join(session.bridge_command())  # the password is not on argv
    # debug: true makes the bridge log at debug; it shows what it made of its flags
    shown = next(e for e in logs if e["event"] == "bridge options")
    assert shown["log_level"] == "debug" and shown["logLevel"] == "debug"
    assert (shown["deviceName"], shown["browserName"]) == ("Front desk", "Firefox")
    assert shown["markOnline"] is False and shown["tagsEvents"] is True
    assert shown["proxy"] == {"url": f"http://127.0.0.1:{proxy.port}", "username": "hook",
                              "password": "***"}
    assert_nothing_left(session)


def test_tag_events_forward_receipts_presence_and_chatstates_from_a_real_browser() -> None:
    """``--tags-events`` (WAHA's ``webjs.tagsEventsOn``) in a real Chromium page whose WA Web
    stand-in decodes stanzas: the three tags are forwarded once each, others are not."""
    require("WEBJS")
    bridge_dir = next(b for b in find_bridges() if b.engine == "WEBJS").path
    script = """
        import puppeteer from 'puppeteer';
        import { attachTagsEvents } from './tag_events.js';
        const browser = await puppeteer.launch({
          executablePath: process.env.HOOKWIRE_CHROMIUM || '/usr/bin/chromium',
          headless: true, args: ['--no-sandbox', '--disable-gpu'] });
        try {
          const page = (await browser.pages())[0];
          await page.evaluate(() => {  // WA Web's WAWap, as whatsapp-web.js exposes it
            window.Store = { SocketWap: { decodeStanza: async (text) => JSON.parse(text) } };
          });
          const emitted = [];
          let done;
          const three = new Promise((resolve) => { done = resolve; });
          const emit = (type, node) => { emitted.push([type, node]); if (emitted.length === 3) done(); };
          const first = await attachTagsEvents(page, emit);
          const again = await attachTagsEvents(page, emit);  // idempotent
          const decoded = await page.evaluate(async () => {
            const out = [];
            for (const node of [
              { tag: 'message', attrs: { id: 'M1' } },
              { tag: 'receipt', attrs: { id: 'M1', type: 'read', participant: '2@c.us' } },
              { tag: 'presence', attrs: { from: '2@c.us', type: 'unavailable' } },
              { tag: 'chatstate', attrs: { from: '2@c.us' }, content: [{ tag: 'composing', attrs: {} }] },
            ]) out.push(await window.Store.SocketWap.decodeStanza(JSON.stringify(node)));
            return out.map((n) => n.tag);
          });
          await three;
          await new Promise((resolve) => setTimeout(resolve, 200));  // nothing more arrives
          process.stdout.write(JSON.stringify({ first, again, decoded, emitted }));
        } finally {
          await browser.close();
        }
    """
    done = subprocess.run([shutil.which(os.environ.get("HOOKWIRE_NODE") or "node") or "node",
                           "--input-type=module", "-e", script],
                          cwd=bridge_dir, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["first"], result["again"]) == (True, False)
    assert result["decoded"] == ["message", "receipt", "presence", "chatstate"]  # WA Web unharmed
    assert [t for t, _ in result["emitted"]] == ["tag:receipt", "tag:presence", "tag:chatstate"]
    assert result["emitted"][0][1] == {"tag": "receipt", "attrs": {"id": "M1", "type": "read",
                                                                   "participant": "2@c.us"}}
