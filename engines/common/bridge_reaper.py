"""Finding and killing what a bridge process started, so no child outlives a session.

A bridge runs in its own process group, but not everything it starts stays there: puppeteer
starts Chromium *detached* (a new session and process group), and a process whose parent died
is re-parented away from us. So before a kill the reaper takes a snapshot of the bridge's
process tree from ``/proc`` (parent links), and kills the group plus every process of the
snapshot; as a last resort, processes whose command line names the session's auth directory
(Chromium's profile lives there) are killed too. Each process is identified by its pid *and*
start time, so a pid reused by an unrelated process in the meantime is left alone. Without ``/proc`` (not Linux) only the
process group is signalled.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec

PROC = Path("/proc")


class ProcessId(msgspec.Struct, frozen=True):
    pid: int
    start_time: int  # clock ticks after boot (/proc/PID/stat field 22)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of ``pid``, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def identify(pid: int) -> ProcessId | None:
    stat = _stat(pid)
    return None if stat is None else ProcessId(pid, stat[2])


def is_alive(process: ProcessId) -> bool:
    """Running (not gone, not a zombie waiting to be reaped) and still the same process."""
    stat = _stat(process.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == process.start_time


def process_tree(root: int) -> set[ProcessId]:
    """``root`` and all its descendants that are alive now."""
    if not PROC.is_dir():
        return set()
    children: dict[int, list[ProcessId]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[0] in ("Z", "X"):
            continue
        children.setdefault(stat[1], []).append(ProcessId(int(entry.name), stat[2]))
    tree: set[ProcessId] = set()
    me = identify(root)
    if me is not None:
        tree.add(me)
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in tree:
                tree.add(child)
                todo.append(child.pid)
    return tree


def processes_mentioning(text: str) -> set[ProcessId]:
    """Live processes of this user, other than this one, whose command line contains ``text``
    (a session's auth directory: Chromium's profile is in it)."""
    if not PROC.is_dir() or not text:
        return set()
    needle = os.fsencode(text)
    found: set[ProcessId] = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid() or needle not in (entry / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        process = identify(int(entry.name))
        if process is not None and is_alive(process):
            found.add(process)
    return found


def signal_all(group: int | None, processes: set[ProcessId], signum: int) -> None:
    """Send ``signum`` to process group ``group`` and to each process still alive."""
    if group is not None:
        try:
            os.killpg(group, signum)
        except (ProcessLookupError, PermissionError):
            pass
    for process in processes:
        if is_alive(process):
            try:
                os.kill(process.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


def alive(processes: set[ProcessId]) -> set[ProcessId]:
    return {p for p in processes if is_alive(p)}


KILL = signal.SIGKILL
TERM = signal.SIGTERM
