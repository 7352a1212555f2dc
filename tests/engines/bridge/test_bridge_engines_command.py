"""``python -m core engines install|status``, with scripted stand-ins for npm and node."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import engines.common.plugin as engines_plugin
from core.app import App
from core.cli import build_parser

ENGINES = Path(__file__).resolve().parents[3] / "engines"


def run_engines(argv: list[str]) -> int:
    """The ``engines`` command as the CLI runs it, the plugin loaded the way the kernel loads
    plugins (``pyproject.toml`` does not name it yet, so it is passed in)."""
    app = App.load(entry_points=False, extra_plugins=[("engines", engines_plugin)])
    assert app.registry.provided["engines"] == ["command engines"]
    command = app.registry.commands["engines"]
    assert command.needs_config is False
    args = build_parser({"engines": command}).parse_args(["engines", *argv])
    return command.run(args, app)


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def bridge(root: Path, name: str, dependencies: dict[str, str], *, lock: bool = True) -> Path:
    directory = root / name / "bridge"
    directory.mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({"name": name, "dependencies": dependencies}))
    if lock:
        packages = {f"node_modules/{dep}": {"version": version} for dep, version in dependencies.items()}
        (directory / "package-lock.json").write_text(json.dumps({"packages": packages}))
    return directory


@pytest.fixture
def fake_npm(tmp_path: Path) -> Path:
    """An npm that records how it was called, and fails where the bridge says so."""
    return script(tmp_path / "npm", """
import json, os, pathlib, sys
calls = pathlib.Path(os.environ["FAKE_NPM_CALLS"])
with calls.open("a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
        "skip": os.environ.get("PUPPETEER_SKIP_DOWNLOAD")}) + "\\n")
if pathlib.Path("FAIL").exists():
    print("npm ERR! code E404", file=sys.stderr)
    print("npm ERR! 404 Not Found - left-pad", file=sys.stderr)
    sys.exit(1)
""")


def test_install_runs_npm_ci_in_each_bridge_without_browser_download(
        tmp_path: Path, fake_npm: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_NPM_CALLS", str(calls))
    root = tmp_path / "engines"
    one = bridge(root, "alpha", {"left-pad": "1.3.0"})
    two = bridge(root, "beta", {})
    assert run_engines(["install", "--engines-dir", str(root), "--npm", str(fake_npm)]) == 0
    out = capsys.readouterr().out
    assert "ALPHA: installed" in out and "BETA: installed" in out
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert recorded == [{"argv": ["ci", "--omit=dev"], "cwd": str(one), "skip": "1"},
                        {"argv": ["ci", "--omit=dev"], "cwd": str(two), "skip": "1"}]


def test_install_reports_each_failure_and_exits_1(
        tmp_path: Path, fake_npm: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAKE_NPM_CALLS", str(tmp_path / "calls.jsonl"))
    root = tmp_path / "engines"
    (bridge(root, "alpha", {"left-pad": "1.3.0"}) / "FAIL").touch()
    bridge(root, "beta", {}, lock=False)
    bridge(root, "gamma", {})
    assert run_engines(["install", "--engines-dir", str(root), "--npm", str(fake_npm)]) == 1
    out = capsys.readouterr().out
    assert "ALPHA: FAILED: npm ci exited with status 1" in out
    assert "    npm ERR! 404 Not Found - left-pad" in out
    assert f"BETA: FAILED: {root}/beta/bridge/package-lock.json is missing" in out
    assert "GAMMA: installed" in out


def test_install_without_npm_says_what_to_install(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "engines"
    bridge(root, "alpha", {})
    assert run_engines(["install", "--engines-dir", str(root),
                        "--npm", str(tmp_path / "no-npm")]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("npm not found")
    assert "apt-get install nodejs npm" in captured.out and "HOOKWIRE_NPM" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_status_tells_installed_from_missing(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    node = script(tmp_path / "node", "print('v20.0.0')")
    root = tmp_path / "engines"
    alpha = bridge(root, "alpha", {"left-pad": "1.3.0", "right-pad": "2.0.0"})
    argv = ["status", "--engines-dir", str(root), "--node", str(node)]
    assert run_engines(argv) == 1
    out = capsys.readouterr().out
    assert f"node: v20.0.0 ({node})" in out
    assert "ALPHA: not installed (left-pad, right-pad missing)" in out
    for dep, version in (("left-pad", "1.3.0"), ("right-pad", "1.0.0")):
        (alpha / "node_modules" / dep).mkdir(parents=True)
        (alpha / "node_modules" / dep / "package.json").write_text(json.dumps({"version": version}))
    assert run_engines(argv) == 1
    assert "ALPHA: not installed (right-pad 2.0.0 (found 1.0.0) missing)" in capsys.readouterr().out
    (alpha / "node_modules" / "right-pad" / "package.json").write_text('{"version": "2.0.0"}')
    assert run_engines(argv) == 0
    assert "ALPHA: installed (left-pad 1.3.0, right-pad 2.0.0)" in capsys.readouterr().out
    assert run_engines([*argv[:-1], str(tmp_path / "no-node")]) == 1
    assert "node: NOT FOUND" in capsys.readouterr().out


def test_status_of_webjs_checks_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    node = script(tmp_path / "node", "print('v20.0.0')")
    root = tmp_path / "engines"
    bridge(root, "webjs", {})
    monkeypatch.setenv("HOOKWIRE_CHROMIUM", str(tmp_path / "no-chromium"))
    assert run_engines(["status", "--engines-dir", str(root), "--node", str(node)]) == 1
    assert "WEBJS: chromium" in (out := capsys.readouterr().out) and "NOT FOUND" in out
    monkeypatch.setenv("HOOKWIRE_CHROMIUM", str(node))  # any executable
    assert run_engines(["status", "--engines-dir", str(root), "--node", str(node),
                        "--engine", "webjs"]) == 0


def test_the_real_bridges_are_found_with_their_lock_files() -> None:
    bridges = engines_plugin.find_bridges()
    assert [(b.engine, b.path) for b in bridges] == [("NOWEB", ENGINES / "noweb" / "bridge"),
                                                     ("WEBJS", ENGINES / "webjs" / "bridge")]
    for found in bridges:
        package = json.loads((found.path / "package.json").read_text())
        lock = json.loads((found.path / "package-lock.json").read_text())
        for name, version in package["dependencies"].items():  # exact pins, locked
            assert lock["packages"][f"node_modules/{name}"]["version"] == version
        assert all(allowed is False for allowed in package["allowScripts"].values())
    puppeteer_rc = (ENGINES / "webjs" / "bridge" / ".puppeteerrc.cjs").read_text()
    assert "skipDownload: true" in puppeteer_rc
