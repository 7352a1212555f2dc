"""Supervision of one unit: restart after a crash with backoff, readiness, normal return."""

from __future__ import annotations

from functools import partial

import anyio
import pytest
from structlog.testing import capture_logs

from core.supervisor import Backoff, supervise


def test_backoff_doubles_up_to_the_maximum_and_resets_after_a_long_uptime():
    backoff = Backoff(initial=0.5, maximum=3, reset_after=60)
    assert [backoff.next_delay(uptime=1) for _ in range(5)] == [0.5, 1, 2, 3, 3]
    assert backoff.next_delay(uptime=61) == 0.5
    assert backoff.next_delay(uptime=1) == 1


async def test_a_crashing_unit_is_logged_and_restarted_after_a_backoff():
    runs: list[float] = []

    async def unit(task_status) -> None:
        runs.append(anyio.current_time())
        task_status.started()
        if len(runs) < 3:
            raise RuntimeError(f"crash {len(runs)}")

    with capture_logs() as logs:
        with anyio.fail_after(5):
            await supervise("sink flaky", unit, backoff=Backoff(initial=0.02, maximum=0.04))
    assert len(runs) == 3
    assert runs[1] - runs[0] >= 0.02 and runs[2] - runs[1] >= 0.04  # the backoff doubled
    crashes = [r for r in logs if r["event"] == "unit crashed, restarting"]
    assert [(r["unit"], r["error"], r["restarts"], r["restart_in_s"]) for r in crashes] == [
        ("sink flaky", "RuntimeError: crash 1", 1, 0.02),
        ("sink flaky", "RuntimeError: crash 2", 2, 0.04),
    ]
    assert all(r["log_level"] == "error" and r["exc_info"] is True for r in crashes)


async def test_readiness_is_reported_once_and_only_when_the_unit_says_so():
    proceed = anyio.Event()
    runs = 0

    async def unit(task_status) -> None:
        nonlocal runs
        runs += 1
        await proceed.wait()
        task_status.started()
        task_status.started()  # a second call is harmless
        if runs == 1:
            raise RuntimeError("after readiness")

    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            tg.start_soon(_release_later, proceed)
            await tg.start(partial(supervise, "u", unit, backoff=Backoff(initial=0.01)))
            assert proceed.is_set()  # start() returned only after the unit reported readiness
    assert runs == 2


async def _release_later(event: anyio.Event) -> None:
    await anyio.wait_all_tasks_blocked()
    event.set()


async def test_a_unit_that_crashes_before_readiness_does_not_hold_up_start():
    attempts = 0

    async def unit(task_status) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise OSError("port busy")
        task_status.started()

    with capture_logs():
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(5):
                await tg.start(partial(supervise, "u", unit, backoff=Backoff(initial=0.01)))
                assert attempts == 1  # ready after the first crash, restarts go on behind
    assert attempts == 3


async def test_cancellation_is_not_a_crash():
    async def unit(task_status) -> None:
        task_status.started()
        await anyio.sleep_forever()

    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(supervise, "u", unit)
            tg.cancel_scope.cancel()
    assert [r for r in logs if r["event"] == "unit crashed, restarting"] == []


async def test_a_unit_that_returns_is_done():
    calls = 0

    async def unit(task_status) -> None:
        nonlocal calls
        calls += 1

    await supervise("u", unit)
    assert calls == 1


async def test_base_exceptions_other_than_cancellation_propagate():
    async def unit(task_status) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await supervise("u", unit)
