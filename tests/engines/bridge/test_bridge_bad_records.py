"""A live bridge that writes a record nested deeper than the bound: one bad record, skipped
and counted with its position; the bridge session goes on with the records after it (a real
subprocess: the scripted fake bridge)."""

from __future__ import annotations

import anyio
from bridge_helpers import count  # type: ignore[import-not-found]
from structlog.testing import capture_logs

from engines.common.records import MAX_DEPTH

WAIT = 20


async def test_a_deep_record_from_the_bridge_is_skipped_and_the_session_goes_on(fake_bridge) -> None:
    too_deep = '{"type":"count","data":{"tag":' + "[" * 5000 + "]" * 5000 + "}}"
    bridge = fake_bridge([[count("before"), {"raw": too_deep}, count("after"), {"wait": True}]],
                         max_line_bytes=1 << 20)
    with capture_logs() as logs:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(bridge.session.run, bridge.ctx)
                await bridge.ctx.wait_until(lambda c: len(c.counts()) == 2)
                tg.cancel_scope.cancel()
    assert bridge.ctx.counts() == [{"n": 1, "tag": "before"}, {"n": 2, "tag": "after"}]
    assert bridge.session.translator.bad_records == 1 and bridge.session.runs == 1
    [bad] = [e for e in logs if e["event"] == "bad native record skipped"]
    assert (bad["position"], bad["error"]) == (
        "bridge run 1 line 2", f"not a native record: nested deeper than {MAX_DEPTH} levels")
