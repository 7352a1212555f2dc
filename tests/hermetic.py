"""The suite is hermetic: the caller's settings do not reach the tests, and no test leaves a
process behind. ``tests/conftest.py`` imports this module's hooks and fixture; a pytest run
outside ``tests/`` can load it with ``-p hermetic`` (``tests/`` on ``PYTHONPATH``).

- **Environment.** Every ``HOOKWIRE_*``, ``WHATSAPP_*`` and ``WAHA_*`` variable is removed for
  the whole run (before collection) and again before each test (a test that sets one does so
  on purpose, with ``monkeypatch``). Subprocesses started by tests inherit the clean
  environment. Kept: :data:`KEPT`, which say where the machine's tools and services are,
  not how hookwire behaves.
- **Processes.** The test process is a child subreaper (Linux), so a process orphaned by a
  killed child is re-parented to it instead of to init and stays visible. After each test's
  teardown, every process descended from the test process that was not there when the test
  body started is killed and the test fails, naming them. This holds when pytest-timeout
  fires too: the ``signal`` method (pyproject) raises in the test and teardown runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Settings that describe the machine: the CI's Redis server, where node, npm and Chromium are.
KEPT = frozenset({"HOOKWIRE_TEST_REDIS_URL", "HOOKWIRE_NODE", "HOOKWIRE_NPM", "HOOKWIRE_CHROMIUM"})
PREFIXES = ("HOOKWIRE_", "WHATSAPP_", "WAHA_")
PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36

_saved: dict[str, str] = {}


def foreign_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """The variables of ``environ`` that would change what hookwire does."""
    return sorted(k for k in environ if k.startswith(PREFIXES) and k not in KEPT)


def pytest_configure(config: pytest.Config) -> None:
    for name in foreign_variables(os.environ):
        _saved[name] = os.environ.pop(name)
    if sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(_saved)
    _saved.clear()


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hookwire, WAHA or WhatsApp variable at the start of a test (see the module doc)."""
    for name in foreign_variables(os.environ):
        monkeypatch.delenv(name)


# -- processes -----------------------------------------------------------------------------

def _descendants(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (start time, command line) of the live processes descended from ``root``."""
    if not PROC.is_dir():
        return {}
    parents: dict[int, list[int]] = {}
    info: dict[int, tuple[int, str]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            continue
        pid = int(entry.name)
        parents.setdefault(int(fields[1]), []).append(pid)
        info[pid] = (int(fields[19]), cmdline.replace(b"\0", b" ").decode(errors="replace").strip())
    found: dict[int, tuple[int, str]] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found and child in info:
                found[child] = info[child]
                todo.append(child)
    return found


def kill_leftovers(before: dict[int, tuple[int, str]]) -> list[str]:
    """Kill (SIGKILL) the descendants of this process that are not in ``before`` (same pid and
    start time); reap the ones that were our children. Their command lines."""
    leftovers = {pid: entry for pid, entry in _descendants(os.getpid()).items()
                 if before.get(pid, (None,))[0] != entry[0]}
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + 5
    for pid in leftovers:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (its parent reaps it), or reaped
                break
            if done:
                break
            time.sleep(0.01)
    return [f"{pid}: {cmd[:200]}" for pid, (_, cmd) in sorted(leftovers.items())]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    item.stash[_BEFORE] = _descendants(os.getpid())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    before = item.stash.get(_BEFORE, None)
    try:
        result = yield
    except BaseException:
        if before is not None:
            kill_leftovers(before)  # the teardown's own error is the one to report
        raise
    if before is not None and (left := kill_leftovers(before)):
        pytest.fail("the test left processes behind (killed now):\n  " + "\n  ".join(left),
                    pytrace=False)
    return result


_BEFORE = pytest.StashKey[dict[int, tuple[int, str]]]()
