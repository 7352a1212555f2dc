"""``hookwire serve`` as a real subprocess for the tests: its own process group, an environment
with none of the caller's ``HOOKWIRE_*`` / ``WHATSAPP_*`` / ``WAHA_*`` variables, readiness from
its own log line ("API listening", JSON logs on a pipe), and a kill of the whole group on the
way out, whatever happened."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

SCRIPT = Path(sys.executable).parent / "hookwire"
CLEARED_PREFIXES = ("HOOKWIRE_", "WHATSAPP_", "WAHA_")


def clean_environ(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(CLEARED_PREFIXES) and k not in ("PORT", "DEBUG")}
    return {**env, **variables}


class ServeProcess:
    def __init__(self, process: Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._changed = anyio.Event()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        buffer = ""
        async for chunk in TextReceiveStream(self.process.stdout):
            buffer += chunk
            *complete, buffer = buffer.split("\n")
            for line in complete:
                self.raw.append(line)
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {"event": line}
                self.lines.append(entry if isinstance(entry, dict) else {"event": line})
            self._changed.set()
            self._changed = anyio.Event()
        self._changed.set()

    def find(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.lines if e.get("event") == event
                and all(e.get(k) == v for k, v in fields.items())]

    async def wait_for_line(self, event: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while not self.find(event, **fields):
                if self.process.returncode is not None:
                    raise AssertionError(f"serve exited ({self.process.returncode}) before "
                                         f"{event!r}:\n" + "\n".join(self.raw[-30:]))
                await self._changed.wait()
        return self.find(event, **fields)[0]

    async def wait_exit(self, timeout: float = 30.0) -> int:
        with anyio.fail_after(timeout):
            return await self.process.wait()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


@asynccontextmanager
async def serving_process(environ: Mapping[str, str], cwd: Path, *args: str,
                          module: bool = False) -> AsyncIterator[ServeProcess]:
    """Run serve (the ``hookwire`` script, or ``python -m core`` with ``module``) until the
    block ends; the block may stop it itself (``POST /api/server/stop``, a signal)."""
    command = [sys.executable, "-m", "core", "serve", *args] if module else [str(SCRIPT), "serve", *args]
    process = await anyio.open_process(command, env=dict(environ), cwd=str(cwd),
                                       stderr=-2, start_new_session=True)  # -2: STDOUT
    serve = ServeProcess(process)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve._read)
            try:
                yield serve
            finally:
                if process.returncode is None:
                    process.terminate()
                    with anyio.move_on_after(20):
                        await process.wait()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group: anything it started
            except ProcessLookupError:
                pass
            await process.wait()
            await process.aclose()
