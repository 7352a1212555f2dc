"""A scripted stand-in for a bridge process, run by the tests with ``sys.executable``.

    python fake_bridge.py SCENARIO.json --session NAME --auth-dir DIR [--log-level L] [--qr-terminal]

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
- ``{"wait": true}``: read commands until ``stop`` (then exit 0) or end of stdin (exit 0).

Every command received is appended to ``DIR/commands.jsonl``; the arguments are written to
``DIR/args.json``; the pid of each run to ``DIR/pids``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    scenario = json.loads(Path(argv[0]).read_text())
    args = argv[1:]
    auth_dir = Path(args[args.index("--auth-dir") + 1])
    auth_dir.mkdir(parents=True, exist_ok=True)
    (auth_dir / "args.json").write_text(json.dumps(args))
    runs_file = auth_dir / "fake-runs"
    run = int(runs_file.read_text()) + 1 if runs_file.exists() else 1
    runs_file.write_text(str(run))
    with (auth_dir / "pids").open("a") as pids:
        pids.write(f"{os.getpid()}\n")
    steps = scenario[min(run, len(scenario)) - 1]
    ignore_stop = False
    out = sys.stdout.buffer
    for step in steps:
        if "record" in step:
            out.write(json.dumps(step["record"], ensure_ascii=False).encode() + b"\n")
        elif "raw" in step:
            out.write(step["raw"].encode() + b"\n")
        elif "raw_bytes" in step:
            out.write(b"x" * step["raw_bytes"] + b"\n")
        elif "stderr" in step:
            sys.stderr.write(step["stderr"] + "\n")
            sys.stderr.flush()
        elif "exit" in step:
            out.flush()
            return int(step["exit"])
        elif "crash" in step:
            out.flush()
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
        elif "wait" in step:
            out.flush()
            for line in sys.stdin:
                with (auth_dir / "commands.jsonl").open("a") as commands:
                    commands.write(line)
                if json.loads(line).get("cmd") == "stop" and not ignore_stop:
                    return 0
            while ignore_stop:
                signal.pause()
            return 0
        out.flush()
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
