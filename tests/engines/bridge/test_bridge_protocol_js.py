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
    assert json.loads(done.stderr) == {"level": "warn", "msg": "parsed", "session": "s",
                                       "authDir": "/a", "qrTerminal": True, "logLevel": "warn"}


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
