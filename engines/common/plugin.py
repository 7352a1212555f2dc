"""The ``engines`` command: install the live bridges' Node.js packages, show their state.

    python -m core engines install [--engine NAME]   # npm ci --omit=dev in each bridge dir
    python -m core engines status  [--engine NAME]   # node, packages, Chromium

A bridge is a directory ``engines/<name>/bridge`` with a ``package.json`` and a committed
``package-lock.json``. ``install`` never downloads a browser: install scripts are not allowed
(``allowScripts`` in each package.json), ``PUPPETEER_SKIP_DOWNLOAD`` is set and the WEBJS bridge
has a ``.puppeteerrc.cjs`` saying so; WEBJS uses the system Chromium. Both sub-commands exit 0
when every selected bridge is ready and 1 otherwise; a missing ``npm`` or ``node`` is one clear
line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec

from core import hookimpl
from core.registry import Command, Registry

ENGINES_DIR = Path(__file__).resolve().parent.parent
#: Lines of npm's output shown when it fails.
NPM_TAIL_LINES = 15


class Bridge(msgspec.Struct, frozen=True):
    engine: str  # e.g. NOWEB
    path: Path


def find_bridges(engines_dir: Path = ENGINES_DIR) -> list[Bridge]:
    return [Bridge(engine=package.parent.parent.name.upper(), path=package.parent)
            for package in sorted(engines_dir.glob("*/bridge/package.json"))]


def _selected(args: argparse.Namespace) -> list[Bridge]:
    bridges = find_bridges(Path(args.engines_dir))
    if args.engine:
        bridges = [b for b in bridges if b.engine == args.engine.upper()]
    return bridges


def _npm_env() -> dict[str, str]:
    return {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1", "PUPPETEER_SKIP_CHROMIUM_DOWNLOAD": "1",
            "npm_config_fund": "false", "npm_config_audit": "false",
            "npm_config_update_notifier": "false"}


def install(args: argparse.Namespace) -> int:
    bridges = _selected(args)
    if not bridges:
        print(f"no bridge found for engine {args.engine!r}" if args.engine else "no bridge found")
        return 1
    npm = shutil.which(args.npm)
    if npm is None:
        print(f"npm not found ({args.npm!r}): install Node.js 20 and npm (Debian: apt-get install "
              "nodejs npm), or point HOOKWIRE_NPM at npm")
        return 1
    failures = 0
    for bridge in bridges:
        if not (bridge.path / "package-lock.json").is_file():
            print(f"{bridge.engine}: FAILED: {bridge.path}/package-lock.json is missing")
            failures += 1
            continue
        print(f"{bridge.engine}: installing ({bridge.path}) ...", flush=True)
        try:
            done = subprocess.run([npm, "ci", "--omit=dev"], cwd=bridge.path, env=_npm_env(),
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{bridge.engine}: FAILED: npm ci took longer than {args.timeout:g} s")
            failures += 1
            continue
        except OSError as exc:
            print(f"{bridge.engine}: FAILED: cannot run npm: {exc}")
            failures += 1
            continue
        if done.returncode != 0:
            failures += 1
            print(f"{bridge.engine}: FAILED: npm ci exited with status {done.returncode}")
            output = (done.stderr.strip() or done.stdout.strip()).splitlines()
            for line in output[-NPM_TAIL_LINES:]:
                print(f"    {line}")
            continue
        print(f"{bridge.engine}: installed")
    return 1 if failures else 0


def status(args: argparse.Namespace) -> int:
    bridges = _selected(args)
    if not bridges:
        print(f"no bridge found for engine {args.engine!r}" if args.engine else "no bridge found")
        return 1
    ready = True
    node = _node_version(args.node)
    print(f"node: {node or f'NOT FOUND ({args.node!r}; set HOOKWIRE_NODE)'}")
    ready &= node is not None
    for bridge in bridges:
        missing, versions = _package_state(bridge.path)
        if missing:
            ready = False
            print(f"{bridge.engine}: not installed ({', '.join(missing)} missing): run "
                  "`python -m core engines install`")
        else:
            print(f"{bridge.engine}: installed ({', '.join(versions)})")
        if bridge.engine == "WEBJS":
            chromium = os.environ.get("HOOKWIRE_CHROMIUM") or "/usr/bin/chromium"
            found = os.access(chromium, os.X_OK)
            ready &= found
            print(f"{bridge.engine}: chromium {chromium}: "
                  f"{'found' if found else 'NOT FOUND (Debian: apt-get install chromium)'}")
    return 0 if ready else 1


def _node_version(node: str) -> str | None:
    path = shutil.which(node)
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return f"{done.stdout.strip()} ({path})" if done.returncode == 0 else None


def _package_state(path: Path) -> tuple[list[str], list[str]]:
    """(direct dependencies missing or at another version than locked, ``name version`` of the
    installed ones)."""
    try:
        package = msgspec.json.decode((path / "package.json").read_bytes())
        lock = msgspec.json.decode((path / "package-lock.json").read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        return [f"readable package files ({exc})"], []
    missing: list[str] = []
    versions: list[str] = []
    for name in sorted(package.get("dependencies", {})):
        locked = lock.get("packages", {}).get(f"node_modules/{name}", {}).get("version")
        installed = _installed_version(path / "node_modules" / name / "package.json")
        if installed is None or installed != locked:
            missing.append(name if installed is None else f"{name} {locked} (found {installed})")
        else:
            versions.append(f"{name} {installed}")
    return missing, versions


def _installed_version(package_json: Path) -> str | None:
    try:
        value: Any = msgspec.json.decode(package_json.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    return value.get("version") if isinstance(value, dict) else None


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="engines_action", metavar="ACTION", required=True)
    for name, help_text in (("install", "install each bridge's Node.js packages (npm ci --omit=dev)"),
                            ("status", "show whether node, each bridge's packages and Chromium "
                                       "are installed")):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("--engine", help="only this engine's bridge (WEBJS, NOWEB)")
        action.add_argument("--engines-dir", default=str(ENGINES_DIR), help=argparse.SUPPRESS)
        action.add_argument("--npm", default=os.environ.get("HOOKWIRE_NPM") or "npm",
                            help="the npm executable (default: $HOOKWIRE_NPM, else npm)")
        action.add_argument("--node", default=os.environ.get("HOOKWIRE_NODE") or "node",
                            help="the node executable (default: $HOOKWIRE_NODE, else node)")
        action.add_argument("--timeout", type=float, default=900.0,
                            help="seconds one npm ci may take (default: 900)")


def _run(args: argparse.Namespace, app: object) -> int:
    del app
    return install(args) if args.engines_action == "install" else status(args)


@hookimpl
def hookwire_register_commands(registry: Registry) -> None:
    registry.add_command(Command(
        name="engines",
        help="install or check the live bridges of the engines (Node.js packages, Chromium)",
        add_arguments=_add_arguments,
        run=_run,
        needs_config=False,
    ))
