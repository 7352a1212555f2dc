"""The suite is hermetic (``tests/hermetic.py``): the caller's hookwire, WAHA and WhatsApp
variables never reach a test, and a test that times out or leaks a process leaves nothing
running. Each case runs pytest for real in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hermetic import KEPT, foreign_variables

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

#: Tests that used to fail when one of these was set (they share one data dir, post to the
#: URL, read the broken config ...), plus the check below.
SAMPLE = [
    "tests/plugins/api/test_api_sessions.py::test_list_get_stop_start_delete",
    "tests/plugins/api/test_api_sessions.py::test_conflicts_and_bad_sessions_are_refused_with_the_field",
    "tests/plugins/api/test_api_ssrf.py::test_refused_webhook_targets_are_422_and_nothing_is_created",
    "tests/core/test_core_cli.py",
    "tests/test_hermetic.py::test_no_hookwire_variable_reaches_a_test",
]


def test_no_hookwire_variable_reaches_a_test() -> None:
    assert foreign_variables(os.environ) == []


def test_a_sample_of_the_suite_passes_with_hostile_settings_in_the_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "hostile-data"
    broken = tmp_path / "broken.toml"
    broken.write_text("[kernel\nnot toml")
    hostile = {
        "HOOKWIRE_DATA_DIR": str(data_dir),
        "HOOKWIRE_CONFIG": str(broken),
        "HOOKWIRE_ROLE": "worker",
        "HOOKWIRE_WORKER_ID": "hostile-worker",
        "HOOKWIRE_STRICT_PLUGINS": "1",
        "HOOKWIRE_BLOCK_PLUGINS": "webhook,api",
        "HOOKWIRE_BRIDGE_BACKOFF_INITIAL": "nonsense",
        "WHATSAPP_HOOK_URL": "http://127.0.0.1:9/hostile",
        "WHATSAPP_HOOK_EVENTS": "message",
        "WHATSAPP_HOOK_HMAC_KEY": "hostile-key",
        "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "-5",
        "WAHA_API_KEY": "hostile-api-key",
        "WHATSAPP_API_KEY": "hostile-api-key",
    }
    env = {**os.environ, **hostile}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SAMPLE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    assert not data_dir.exists()  # nothing was written where the caller's settings point


def _inner_pytest(tmp_path: Path, test_source: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]),
           "PIDS_FILE": str(tmp_path / "pids")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "hermetic", "-p", "no:cacheprovider",
                           "--timeout-method", "signal", *options, "test_inner.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def _running(pid: int) -> bool:
    """Alive and not a zombie; a zombie re-parented to us is reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state in ("Z", "X"):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


_LEAKY = '''
import os, pathlib, subprocess, time

def test_leaky():
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    # A grandchild whose parent exits at once: an orphan, re-parented away from its parent.
    orphan = subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
                            capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path(os.environ["PIDS_FILE"]).write_text(f"{child.pid} {orphan}")
    time.sleep({sleep})
'''


def test_a_test_timed_out_by_pytest_timeout_leaves_no_process_behind(tmp_path: Path) -> None:
    proc = _inner_pytest(tmp_path, _LEAKY.replace("{sleep}", "300"), "--timeout", "3")
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert proc.returncode == 1, proc.stdout
    assert "Timeout" in proc.stdout
    assert "the test left processes behind (killed now)" in proc.stdout
    assert [pid for pid in pids if _running(pid)] == []


def test_a_test_that_leaks_a_process_fails_naming_it_and_the_process_is_killed(tmp_path: Path) -> None:
    proc = _inner_pytest(tmp_path, _LEAKY.replace("{sleep}", "0"))
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert proc.returncode == 1, proc.stdout
    assert "1 passed, 1 error" in proc.stdout
    assert f"{pids[0]}: sleep 300" in proc.stdout and f"{pids[1]}: sleep 300" in proc.stdout
    assert [pid for pid in pids if _running(pid)] == []


def test_only_the_machine_s_tool_locations_are_kept() -> None:
    assert foreign_variables({"HOOKWIRE_DATA_DIR": "x", "WHATSAPP_HOOK_URL": "y", "WAHA_API_KEY": "z",
                              "HOOKWIRE_TEST_REDIS_URL": "r", "PATH": "/bin"}) == [
        "HOOKWIRE_DATA_DIR", "WAHA_API_KEY", "WHATSAPP_HOOK_URL"]
    assert KEPT == {"HOOKWIRE_TEST_REDIS_URL", "HOOKWIRE_NODE", "HOOKWIRE_NPM", "HOOKWIRE_CHROMIUM"}
