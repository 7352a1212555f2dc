"""A scripted stand-in for a bridge process, run by the tests with ``sys.executable``.

    python fake_bridge.py SCENARIO.json --session NAME --auth-dir DIR [bridge flags...]

The scenario is a JSON list of runs; run N of the bridge (counted in ``DIR/fake-runs``) plays
``scenario[N-1]`` (the last one again when there are fewer). A run is a list of steps:

- ``{"record": {...}}``: one record line on stdout; ``{"raw": "text"}``: that text + newline;
  ``{"raw_bytes": N}``: one line of N ``x`` bytes;
- ``{"stderr": "text"}``: one line on stderr;
- ``{"exit": CODE}``: exit now with CODE;
- ``{"crash": true}``: die from SIGKILL (a crash);
- ``{"spawn_detached": true}``: start a sleeping process in a new session, ``DIR`` on its
  command line (as puppeteer starts Chromium), and write its pid to ``DIR/detached.pid``;
- ``{"ignore_stop": true}``: from now on ignore ``stop``, end of stdin and SIGTERM;
- ``{"heartbeat": STATUS}``: the status heartbeats report from now on (``STARTING`` until
  then); one heartbeat is written at once. Heartbeats (``hookwire.heartbeat`` records) are
  written every ``--heartbeat-seconds`` from the start when that flag is given;
- ``{"silent": true}``: no more heartbeats (the bridge hangs, as far as hookwire can tell);
- ``{"answers": {COMMAND: ANSWER}}``: how ``wait`` answers commands that carry an ``id``.
  ANSWER is ``{"result": X}``, ``{"error": {"code", "message"}}``, either with
  ``"delay": SECONDS``, or ``{"never": true}`` (no answer), ``{"crash": true}`` (die from
  SIGKILL), ``{"exit": CODE}``; ``"sent": [IDS]`` adds the ids of the messages it sent
  to the answer, ``"then": [RECORDS]`` writes those records after it (as a real bridge
  writes a sent message's records after the answer, or a new QR code after a command).
  Without an entry, ``stop`` is answered ``null`` then the bridge
  exits 0, ``logout`` is answered ``null`` then it exits 3, anything else gets an
  ``unsupported`` error;
- ``{"wait": true}``: read commands until ``stop`` (then exit 0) or end of stdin (exit 0).

Every command received is appended to ``DIR/commands.jsonl``; the arguments are written to
``DIR/args.json``, the ``HOOKWIRE_PROXY_PASSWORD`` it got (or null) to ``DIR/env.json``; the
pid of each run to ``DIR/pids``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_out_lock = threading.Lock()


def write_line(data: bytes) -> None:
    with _out_lock:
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.buffer.flush()


def write_record(record: dict[str, Any]) -> None:
    write_line(json.dumps(record, ensure_ascii=False).encode())


def write_result(request_id: str, answer: dict[str, Any]) -> None:
    if "error" in answer:
        data = {"id": request_id, "ok": False, "error": answer["error"]}
    else:
        data = {"id": request_id, "ok": True, "result": answer.get("result")}
        if "sent" in answer:
            data["sent"] = answer["sent"]
    write_record({"type": "hookwire.result", "data": data})
    for record in answer.get("then", []):
        write_record(record)


class Heartbeats:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.status = "STARTING"
        self.silent = False
        if seconds:
            threading.Thread(target=self._beat, daemon=True).start()

    def beat(self) -> None:
        if self.seconds and not self.silent:
            write_record({"type": "hookwire.heartbeat", "data": {"status": self.status},
                          "ts": int(time.time() * 1000)})

    def _beat(self) -> None:
        while True:
            self.beat()
            time.sleep(self.seconds or 1)


def flag_value(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(argv: list[str]) -> int:
    scenario = json.loads(Path(argv[0]).read_text())
    args = argv[1:]
    auth_dir = Path(args[args.index("--auth-dir") + 1])
    auth_dir.mkdir(parents=True, exist_ok=True)
    (auth_dir / "args.json").write_text(json.dumps(args))
    (auth_dir / "env.json").write_text(json.dumps(
        {"HOOKWIRE_PROXY_PASSWORD": os.environ.get("HOOKWIRE_PROXY_PASSWORD")}))
    runs_file = auth_dir / "fake-runs"
    run = int(runs_file.read_text()) + 1 if runs_file.exists() else 1
    runs_file.write_text(str(run))
    with (auth_dir / "pids").open("a") as pids:
        pids.write(f"{os.getpid()}\n")
    heartbeat = flag_value(args, "--heartbeat-seconds")
    heartbeats = Heartbeats(float(heartbeat) if heartbeat else None)
    steps = scenario[min(run, len(scenario)) - 1]
    ignore_stop = False
    answers: dict[str, dict[str, Any]] = {}
    for step in steps:
        if "record" in step:
            write_record(step["record"])
        elif "raw" in step:
            write_line(step["raw"].encode())
        elif "raw_bytes" in step:
            write_line(b"x" * step["raw_bytes"])
        elif "stderr" in step:
            sys.stderr.write(step["stderr"] + "\n")
            sys.stderr.flush()
        elif "exit" in step:
            return int(step["exit"])
        elif "crash" in step:
            os.kill(os.getpid(), signal.SIGKILL)
        elif "spawn_detached" in step:
            # The auth dir on its command line, as Chromium's profile is on its own.
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                                      str(auth_dir)], start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            (auth_dir / "detached.pid").write_text(str(child.pid))
        elif "ignore_stop" in step:
            ignore_stop = True
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif "heartbeat" in step:
            heartbeats.status = step["heartbeat"]
            heartbeats.beat()
        elif "silent" in step:
            heartbeats.silent = True
        elif "answers" in step:
            answers = step["answers"]
        elif "wait" in step:
            code = serve_commands(auth_dir, answers, ignore_stop)
            if code is not None:
                return code
            while ignore_stop:
                signal.pause()
            return 0
    return 0


def serve_commands(auth_dir: Path, answers: dict[str, dict[str, Any]], ignore_stop: bool) -> int | None:
    """Read commands until ``stop`` or end of stdin; an exit status, or None at end of stdin."""
    for line in sys.stdin:
        with (auth_dir / "commands.jsonl").open("a") as commands:
            commands.write(line)
        command = json.loads(line)
        name, request_id = command.get("cmd"), command.get("id")
        if request_id is None:
            if name == "stop" and not ignore_stop:
                return 0
            continue
        answer = answers.get(name)
        if answer is None:
            if name in ("stop", "logout"):
                write_result(request_id, {"result": None})
                if name == "stop" and ignore_stop:
                    continue
                return 0 if name == "stop" else 3
            answer = {"error": {"code": "unsupported", "message": f"unknown command {name!r}"}}
        if answer.get("never"):
            continue
        if answer.get("crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        if "exit" in answer:
            return int(answer["exit"])
        if answer.get("delay"):
            timer = threading.Timer(answer["delay"], write_result, (request_id, answer))
            timer.daemon = True
            timer.start()
        else:
            write_result(request_id, answer)
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
