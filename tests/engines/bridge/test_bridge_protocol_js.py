"""The Node.js side of the bridge protocol (``engines/common/bridge_protocol.mjs``, shared by both bridges), run with the real ``node``.

It imports only Node.js built-ins, so these tests need node but not the bridges'
npm packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parents[3] / "engines"
PROTOCOL = ENGINES / "common" / "bridge_protocol.mjs"


def node() -> str:
    path = shutil.which(os.environ.get("HOOKWIRE_NODE") or "node")
    if path is None:
        message = "node is not installed: install Node.js 20 (Debian: apt-get install nodejs)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_node(script: str, stdin: str = "", args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as an ES module next to the protocol module (so ``./bridge_protocol.mjs`` resolves)."""
    return subprocess.run([node(), "--input-type=module", "-e", script, "--", *args],
                          cwd=PROTOCOL.parent, input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_records_are_one_json_line_each_with_bytes_as_base64() -> None:
    done = run_node("""
        import { writeRecord } from './bridge_protocol.mjs';
        writeRecord('messages.upsert', {
          key: { id: 'A' }, mediaKey: Buffer.from([1, 2, 3]), thumb: new Uint8Array([255, 0]),
          big: 12345678901234567890n, text: 'line\\nbreak \\u2028 \\u0000 \\u{1F600}',
          when: new Date(0), gone: undefined,
        });
        writeRecord('ready', undefined);
        writeRecord('message_ack', [{ id: 'x' }, 3]);
        const loop = {}; loop.self = loop;
        writeRecord('loop', loop);
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")  # not splitlines(): U+2028 is written raw, as JSON allows
    assert lines.pop() == ""
    assert len(lines) == 3  # the circular one is not written
    records = [json.loads(line) for line in lines]
    first = records[0]
    assert first["type"] == "messages.upsert" and isinstance(first["ts"], int)
    assert first["data"] == {"key": {"id": "A"}, "mediaKey": "AQID", "thumb": "/wA=",
                             "big": "12345678901234567890",
                             "text": "line\nbreak \u2028 \u0000 \U0001f600",
                             "when": "1970-01-01T00:00:00.000Z"}
    assert records[1] == {"type": "ready", "data": None, "ts": records[1]["ts"]}
    assert records[2]["data"] == [{"id": "x"}, 3]
    error = json.loads(done.stderr.splitlines()[0])
    assert error["level"] == "error" and error["record_type"] == "loop"


def test_commands_are_read_from_stdin_and_end_of_stdin_means_stop() -> None:
    done = run_node("""
        import { readCommands, log } from './bridge_protocol.mjs';
        readCommands({
          ping: (c) => log('info', 'pong', { n: c.n }),
          fail: () => { throw new Error('nope'); },
          stop: (c) => log('info', 'stopping', { reason: c.reason ?? 'command' }),
        });
    """, stdin='{"cmd":"ping","n":1}\nnot json\n{"cmd":"dance"}\n{"cmd":"fail"}\n\n'
               '{"cmd":"stop"}\n')
    assert done.returncode == 0, done.stderr
    logs = [json.loads(line) for line in done.stderr.splitlines()]
    # Bad lines are logged as they come; commands run one after another, in order, except
    # stop, which runs at once; end of stdin (later) stops too.
    assert [e["msg"] for e in logs if e["level"] == "error"][:2] == [
        "command is not JSON; ignored", "unknown command; ignored"]
    handled = [e for e in logs if e["msg"] in ("pong", "command fail failed", "stopping")]
    assert [e["msg"] for e in handled] == ["stopping", "pong", "command fail failed", "stopping"]
    assert handled[1]["n"] == 1 and handled[2]["error"] == "nope"
    assert [handled[0]["reason"], handled[3]["reason"]] == ["command", "end of stdin"]


def test_bad_arguments_exit_2_with_one_error_line() -> None:
    script = """
        import { parseOptions, setLogLevel, log } from './bridge_protocol.mjs';
        const options = parseOptions(process.argv.slice(1));
        setLogLevel(options.logLevel);
        log('info', 'not shown at warn');
        log('warn', 'parsed', options);
    """
    done = run_node(script, args=("--session", "s"))
    assert done.returncode == 2
    error = json.loads(done.stderr)
    assert error["level"] == "error" and error["msg"] == "bad arguments: --auth-dir is required"
    done = run_node(script, args=("--session", "s", "--auth-dir", "/a", "--bogus"))
    assert done.returncode == 2 and "bogus" in json.loads(done.stderr)["msg"]
    done = run_node(script, args=("--session", "s", "--auth-dir", "/a", "--log-level", "warn",
                                  "--qr-terminal"))
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stderr)
    assert {k: parsed[k] for k in ("level", "msg", "session", "authDir", "qrTerminal", "logLevel")} == {
        "level": "warn", "msg": "parsed", "session": "s", "authDir": "/a", "qrTerminal": True,
        "logLevel": "warn"}


def test_console_output_of_a_library_goes_to_stderr_not_among_the_records() -> None:
    done = run_node("""
        import { routeConsoleToStderr, writeRecord } from './bridge_protocol.mjs';
        routeConsoleToStderr();
        console.log('deleting %s failed', 'tmp.bin');
        console.warn({ deprecated: true });
        writeRecord('ready', null);
    """)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["type"] for line in done.stdout.splitlines()] == ["ready"]
    logs = [json.loads(line) for line in done.stderr.splitlines()]
    assert logs == [
        {"level": "info", "msg": "deleting tmp.bin failed", "source": "console.log"},
        {"level": "warn", "msg": "{ deprecated: true }", "source": "console.warn"},
    ]


def results(stdout: str) -> dict[str, dict]:
    """The ``hookwire.result`` records of a run, by request id."""
    records = [json.loads(line) for line in stdout.splitlines()]
    assert all(r["type"] == "hookwire.result" for r in records), records
    return {r["data"]["id"]: r["data"] for r in records}


def test_commands_with_an_id_are_answered_with_the_result_or_the_reason() -> None:
    done = run_node("""
        import { readCommands, CommandError } from './bridge_protocol.mjs';
        readCommands({
          me: () => ({ id: '1@c.us', pushName: 'Me' }),
          nothing: async () => undefined,
          refuse: async () => { throw new Error('Connection Closed'); },
          early: () => { throw new CommandError('not_working', 'not logged in'); },
          hang: () => new Promise(() => {}),
          stop: () => {},
        });
    """, stdin="\n".join(json.dumps(c) for c in [
        {"cmd": "me", "id": "1"}, {"cmd": "nothing", "id": "2"}, {"cmd": "refuse", "id": "3"},
        {"cmd": "early", "id": "4"}, {"cmd": "hang", "id": "5", "timeout_ms": 200},
        {"cmd": "me", "id": "6"}, {"cmd": "fly", "id": "7"}, {"cmd": "me", "id": 8},
    ]) + "\n")
    assert done.returncode == 0, done.stderr
    answers = results(done.stdout)
    assert answers["1"] == {"id": "1", "ok": True, "result": {"id": "1@c.us", "pushName": "Me"}}
    assert answers["2"] == {"id": "2", "ok": True, "result": None}
    assert answers["3"]["error"] == {"code": "failed", "message": "Connection Closed"}
    assert answers["4"]["error"] == {"code": "not_working", "message": "not logged in"}
    assert answers["5"]["error"] == {"code": "timeout",
                                     "message": "hang: the library gave no answer in 200 ms"}
    assert answers["6"]["ok"] is True  # a hung command does not hold up the ones after it
    assert answers["7"]["error"]["code"] == "unsupported" and '"fly"' in answers["7"]["error"]["message"]
    assert sorted(answers) == ["1", "2", "3", "4", "5", "6", "7"]  # id 8 is not a string: ignored
    logs = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(e["msg"] == "command id must be a string; ignored" for e in logs)
    assert [e["msg"] for e in logs if e["level"] == "warn"] == [
        "command refuse failed", "command early failed", "command hang failed"]


def test_stop_with_an_id_is_answered_before_it_runs() -> None:
    done = run_node("""
        import { readCommands, writeRecord } from './bridge_protocol.mjs';
        readCommands({ stop: () => { writeRecord('stopped', null); process.exit(0); } });
    """, stdin='{"cmd":"stop","id":"9"}\n')
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["hookwire.result", "stopped"]
    assert lines[0]["data"] == {"id": "9", "ok": True, "result": None}


def test_heartbeats_carry_the_probes_status_and_skip_a_hung_probe() -> None:
    done = run_node("""
        import { startHeartbeats } from './bridge_protocol.mjs';
        let n = 0;
        const beats = startHeartbeats(0.05, () => {
          n += 1;
          if (n === 2) return new Promise(() => {});  // hung: no heartbeat for it
          if (n === 3) throw new Error('page crashed');
          return n < 5 ? 'STARTING' : 'WORKING';
        });
        setTimeout(() => process.exit(0), 600);
    """)
    assert done.returncode == 0, done.stderr
    beats = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(b["type"] == "hookwire.heartbeat" and isinstance(b["ts"], int) for b in beats)
    statuses = [b["data"]["status"] for b in beats]
    assert statuses[0] == "STARTING" and statuses[-1] == "WORKING"
    assert 3 <= len(statuses) <= 12


def test_session_options_are_parsed_and_checked() -> None:
    script = """
        import { parseOptions, proxyUrlWithCredentials } from './bridge_protocol.mjs';
        const options = parseOptions(process.argv.slice(1));
        process.stdout.write(JSON.stringify({ options,
          proxy: options.proxy && proxyUrlWithCredentials(options.proxy) }));
    """
    base = ("--session", "s", "--auth-dir", "/a")
    done = subprocess.run(
        [node(), "--input-type=module", "-e", script, "--", *base, "--heartbeat-seconds", "2.5",
         "--proxy", "http://proxy.example:3128", "--proxy-username", "u@x",
         "--device-name", "Office", "--browser-name", "Firefox", "--no-mark-online", "--tags-events"],
        cwd=PROTOCOL.parent, capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOOKWIRE_PROXY_PASSWORD": "p:w"})
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout)
    assert parsed["options"] == {
        "session": "s", "authDir": "/a", "qrTerminal": False, "logLevel": "info",
        "heartbeatSeconds": 2.5, "deviceName": "Office", "browserName": "Firefox",
        "markOnline": False, "tagsEvents": True,
        "proxy": {"url": "http://proxy.example:3128", "username": "u@x", "password": "p:w"}}
    assert parsed["proxy"] == "http://u%40x:p%3Aw@proxy.example:3128/"
    defaults = json.loads(run_node(script, args=base).stdout)["options"]
    assert (defaults["heartbeatSeconds"], defaults["proxy"], defaults["markOnline"]) == (0, None, True)
    for bad, message in ((("--heartbeat-seconds", "0.001"), "--heartbeat-seconds must be 0 (off)"),
                         (("--proxy", "not a url"), "--proxy must be a URL"),
                         (("--proxy", "ftp://h:1"), "unsupported scheme ftp:")):
        failed = run_node(script, args=(*base, *bad))
        assert failed.returncode == 2 and message in json.loads(failed.stderr)["msg"]
