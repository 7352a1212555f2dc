"""``python -m core`` as a real subprocess for the tests: the SCRIPTED engine on its
``PYTHONPATH`` (see the ``scripted_site`` fixture), its JSON log lines read as they come, so a
test can wait for a line instead of sleeping.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

#: Variables that would change what a ``python -m core`` subprocess does.
_ISOLATED_PREFIXES = ("HOOKWIRE_", "WHATSAPP_HOOK_")


def core_env(site: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``python -m core`` subprocess: ours minus hookwire's variables,
    the SCRIPTED engine on ``PYTHONPATH``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED_PREFIXES)}
    env["PYTHONPATH"] = str(site)
    env.update(extra or {})
    return env


def core_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "core", "--log-format", "json", *args]


async def run_core(site: Path, *args: str, env: Mapping[str, str] | None = None,
                   cwd: Path | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
    """Run ``python -m core ARGS`` to its end without blocking the event loop (the service
    may be running in-process at the same time); returns (status, stdout, stderr)."""
    with anyio.fail_after(timeout):
        done = await anyio.run_process(core_command(*args), env=core_env(site, env), cwd=cwd,
                                       check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class CoreProcess:
    """A running ``python -m core``: its JSON log lines (stderr) and its stdout, as they come."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.logs: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self.stdout = ""
        self.stderr_closed = False
        self._changed = anyio.Event()

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        rest = b""
        async for chunk in self.process.stderr:
            rest += chunk
            *lines, rest = rest.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                self.stderr_lines.append(text)
                try:
                    self.logs.append(json.loads(text))
                except ValueError:
                    pass
            self._signal()
        self.stderr_closed = True
        self._signal()

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        async for chunk in self.process.stdout:
            self.stdout += chunk.decode("utf-8", "replace")

    def found(self, message: str, **fields: Any) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry.get("event") == message
                and all(entry.get(k) == v for k, v in fields.items())]

    async def wait_logs(self, message: str, count: int = 1, timeout: float = 15.0,
                        **fields: Any) -> list[dict[str, Any]]:
        """Return once ``count`` log entries ``message`` (with ``fields``) were written."""
        with anyio.fail_after(timeout):
            while len(found := self.found(message, **fields)) < count:
                if self.stderr_closed:
                    raise AssertionError(f"process ended without logging {message!r}:\n"
                                         + "\n".join(self.stderr_lines[-30:]))
                await self._changed.wait()
        return found

    async def wait_log(self, message: str, timeout: float = 15.0, **fields: Any) -> dict[str, Any]:
        return (await self.wait_logs(message, 1, timeout, **fields))[0]

    async def wait(self, timeout: float = 20.0) -> int:
        with anyio.fail_after(timeout):
            return await self.process.wait()


@asynccontextmanager
async def core_process(site: Path, *args: str, env: Mapping[str, str] | None = None,
                       cwd: Path | None = None) -> AsyncIterator[CoreProcess]:
    """Start ``python -m core ARGS``; on the way out it is killed if still running."""
    process = await anyio.open_process(core_command(*args), env=core_env(site, env), cwd=cwd)
    async with process:
        running = CoreProcess(process)
        async with anyio.create_task_group() as tg:
            tg.start_soon(running._read_stderr)
            tg.start_soon(running._read_stdout)
            try:
                yield running
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.CancelScope(shield=True), anyio.fail_after(10):
                    await process.wait()
