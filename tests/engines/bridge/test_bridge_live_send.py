"""The real bridges (Baileys, whatsapp-web.js on the system Chromium), started without a
network, asked to send: each answers at once with a clear ``not_working`` error naming the
command, never a hang, for every send command. The command is
written to the bridge itself (past hookwire's own WORKING check), as a WORKING session whose
connection just dropped would meet it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from test_bridge_live import (  # type: ignore[import-not-found]
    WAIT,
    RecordingProxy,
    assert_nothing_left,
    live_env,  # noqa: F401  (the fixture)
    require,
    start_session,
)

from core.engine import CommandError
from engines.common.bridge import BridgeSession

SENDS: list[tuple[str, dict[str, Any]]] = [
    ("send-text", {"chatId": "22222222222@c.us", "text": "hi"}),
    ("send-media", {"chatId": "22222222222@c.us", "kind": "image",
                    "file": {"mimetype": "image/png", "data": "aGk="}}),
    ("send-location", {"chatId": "22222222222@c.us", "latitude": 1.0, "longitude": 2.0}),
    ("send-poll", {"chatId": "22222222222@c.us", "name": "Q", "options": ["a", "b"]}),
    ("react", {"messageId": "false_22222222222@c.us_AAAA", "reaction": "👍"}),
    ("presence", {"presence": "online"}),
]


async def to_the_bridge(session: BridgeSession, command: str, args: dict[str, Any]) -> Any:
    """Write ``command`` to the running bridge and wait for its answer (hookwire's own
    WORKING check skipped: the bridge must answer for itself)."""
    process = session._process
    assert process is not None and process.stdin is not None

    async def write(line: bytes) -> None:
        await process.stdin.send(line)

    return await session.commands.call(write, command, args, 60)


async def answers_of(session: BridgeSession) -> dict[str, CommandError]:
    """Every send's error from one bridge run (a run that ends first is tried again)."""
    for _ in range(10):
        seen = session.heartbeats
        await session.wait_until(lambda s, seen=seen: (s.pid is not None and s.heartbeats > seen)
                                 or s.health().failed)
        errors: dict[str, CommandError] = {}
        try:
            for command, args in SENDS:
                try:
                    result = await to_the_bridge(session, command, args)
                except CommandError as exc:
                    if exc.code == "gone":
                        raise
                    errors[command] = exc
                else:
                    raise AssertionError(f"{command} succeeded without a network: {result!r}")
            return errors
        except (CommandError, anyio.BrokenResourceError, anyio.ClosedResourceError, AssertionError) as exc:
            if isinstance(exc, AssertionError) and "succeeded" in str(exc):
                raise
            continue
    raise AssertionError("no bridge lived long enough to answer")


@pytest.mark.parametrize("engine", ["NOWEB", "WEBJS"])
async def test_the_real_bridges_answer_a_send_with_a_clear_error_never_a_hang(
        live_env: Path, engine: str) -> None:  # noqa: F811
    require(engine)
    proxy = RecordingProxy(auth=False, delay=10.0)  # the bridge stays up, connecting
    with anyio.fail_after(WAIT * 2):
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.serve)
            session, ctx = start_session(engine, proxy={"server": f"127.0.0.1:{proxy.port}"})
            await tg.start(session.run, ctx)
            began = anyio.current_time()
            errors = await answers_of(session)
            took = anyio.current_time() - began
            with pytest.raises(CommandError) as hookwire_side:
                await session.request("send-text", {"chatId": "22222222222@c.us", "text": "x"})
            tg.cancel_scope.cancel()
    assert set(errors) == {command for command, _ in SENDS}
    for command, error in errors.items():
        assert error.code == "not_working", (command, error)
        assert "not WORKING" in error.message and command in error.message
    assert took < 40  # answered at once, not after a library timeout
    assert hookwire_side.value.code == "not_working"  # and hookwire refuses before the bridge
    assert_nothing_left(session)
