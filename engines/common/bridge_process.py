"""One bridge process's pipes and its end: reading lines with a bound, stopping it for sure.

:func:`read_lines` reads a pipe line by line; once the bridge has exited, a wait for more data
is bounded (a grandchild may hold the pipe open). :func:`stop_process` asks the bridge to stop,
then SIGTERM, then SIGKILL to its group and every process of its tree
(:mod:`engines.common.bridge_reaper`), and closes its pipes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ByteReceiveStream, Process

from core.logging import get_logger
from engines.common import bridge_reaper as reaper
from engines.common.bridge_lines import LineSplitter, TooLong

log = get_logger("engines.bridge")

#: After the bridge exited, its output is read on while it keeps coming; this long without a
#: byte ends the reading (a grandchild may hold a pipe open after the bridge is gone).
DRAIN_IDLE_SECONDS = 1.0
#: How often a running bridge is checked for having exited.
EXIT_POLL_SECONDS = 0.1
#: SIGKILL cannot be ignored; this only bounds a wait on a process the kernel cannot reap.
KILL_WAIT_SECONDS = 5.0


class OutputReader:
    """Reads a bridge's pipes; :meth:`bridge_exited` bounds the waits from then on."""

    def __init__(self) -> None:
        self.exited = False
        self._waits: set[anyio.CancelScope] = set()

    def bridge_exited(self) -> None:
        self.exited = True
        for wait in list(self._waits):  # output still in the pipes is read on, a wait is bounded
            wait.deadline = min(wait.deadline, anyio.current_time() + DRAIN_IDLE_SECONDS)

    async def read_lines(self, stream: ByteReceiveStream, max_bytes: int,
                         handle: Callable[[bytes | TooLong], Awaitable[None]]) -> None:
        """Read ``stream`` to its end, line by line."""
        splitter = LineSplitter(max_bytes)
        while True:
            chunk: bytes | None = None
            with anyio.CancelScope() as wait:
                if self.exited:
                    wait.deadline = anyio.current_time() + DRAIN_IDLE_SECONDS
                self._waits.add(wait)
                try:
                    chunk = await stream.receive(1 << 16)
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass
                finally:
                    self._waits.discard(wait)
            if chunk is None:  # end of stream, or nothing for a while after the bridge exited
                break
            for line in splitter.feed(chunk):
                await handle(line)
        for line in splitter.close():
            await handle(line)


async def wait_exit(process: Process, timeout: float) -> None:
    """Wait up to ``timeout`` for ``process`` to exit. Polled, not awaited: asyncio's wait()
    also waits for the pipes to close, which a grandchild holding them open would delay."""
    with anyio.move_on_after(timeout):
        while process.returncode is None:
            await anyio.sleep(EXIT_POLL_SECONDS)


async def stop_process(process: Process, tree: set[reaper.ProcessId], *, ask: Callable[[], Awaitable[None]],
                       stop_timeout: float, kill_timeout: float, auth_dir: str) -> None:
    """Stop ``process`` (the caller shields this): ``ask()`` it, then SIGTERM, then SIGKILL;
    then kill whatever of its tree is still alive (and processes naming ``auth_dir``), and
    close its pipes."""
    if process.returncode is None:
        tree.update(reaper.process_tree(process.pid))
        await ask()
        await wait_exit(process, stop_timeout)
    if process.returncode is None:
        tree.update(reaper.process_tree(process.pid))
        log.warning("bridge did not stop in time; terminating it", bridge_pid=process.pid,
                    stop_timeout_s=stop_timeout)
        reaper.signal_all(process.pid, tree, reaper.TERM)
        await wait_exit(process, kill_timeout)
    if process.returncode is None:
        tree.update(reaper.process_tree(process.pid))
        log.warning("bridge did not terminate; killing it", bridge_pid=process.pid)
        reaper.signal_all(process.pid, tree, reaper.KILL)
        await wait_exit(process, KILL_WAIT_SECONDS)
    leftovers = reaper.alive(tree) | reaper.processes_mentioning(auth_dir)
    if leftovers:
        log.warning("killing processes the bridge left behind", bridge_pid=process.pid,
                    pids=sorted(p.pid for p in leftovers))
        reaper.signal_all(None, leftovers, reaper.KILL)
    await process.aclose()
