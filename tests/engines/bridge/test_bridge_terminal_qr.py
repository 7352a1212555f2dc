"""A live session waiting for a scan draws its QR code on the terminal (the real BridgeSession
and the scripted fake bridge, a subprocess): each new code once, readable back into exactly the
code's modules; off with ``HOOKWIRE_QR_TERMINAL=0``, which ``WAHA_PRINT_QR=false`` sets for
``serve``."""

from __future__ import annotations

import anyio
import pytest
import segno
from bridge_helpers import status
from structlog.testing import capture_logs

from engines.common.bridge_settings import BridgeSettings
from plugins.api.serve import print_qr

WAIT = 20
FIRST, SECOND = "2@first-code,AAAAAAAA,BBBB", "2@second-code,CCCCCCCC,DDDD"


def modules(art: str) -> list[list[bool]]:
    """Half-block art back into rows of modules (True: dark). A character holds two rows:
    ``█`` both light, `` `` both dark, ``▀`` light over dark, ``▄`` dark over light."""
    top = {"█": False, " ": True, "▀": False, "▄": True}
    bottom = {"█": False, " ": True, "▀": True, "▄": False}
    rows: list[list[bool]] = []
    for line in art.splitlines():
        rows.append([top[c] for c in line])
        rows.append([bottom[c] for c in line])
    return rows


def expected(text: str) -> list[list[bool]]:
    qr = segno.make(text, error="l", micro=False)
    matrix = [[bool(m) for m in row] for row in qr.matrix_iter(border=2)]
    # An odd last row: its character's lower half is the terminal's background (dark).
    return matrix + ([[True] * len(matrix[0])] if len(matrix) % 2 else [])


def drawings(err: str) -> list[str]:
    """The blocks of QR art in what was written to stderr."""
    blocks, current = [], []
    for line in err.splitlines():
        if line and set(line) <= set("▀▄█ "):
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


async def run_until_two_codes(bridge) -> None:
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(bridge.session.run, bridge.ctx)
            await bridge.ctx.wait_until(lambda c: c.names.count("state.change") == 3)
            tg.cancel_scope.cancel()


SCENARIO = [[status("SCAN_QR_CODE"), {"record": {"type": "qr", "data": FIRST}},
             {"record": {"type": "qr", "data": FIRST}},  # the same code again: not drawn again
             {"record": {"type": "qr", "data": SECOND}}, {"wait": True}]]


async def test_each_new_qr_code_is_drawn_on_the_terminal_and_reads_back(fake_bridge, capsys) -> None:
    bridge = fake_bridge(SCENARIO, name="scan", qr_terminal=True)
    with capture_logs() as logs:
        await run_until_two_codes(bridge)
    blocks = drawings(capsys.readouterr().err)
    assert [modules(block) for block in blocks] == [expected(FIRST), expected(SECOND)]
    told = [e for e in logs if e["event"].startswith("scan this QR code")]
    assert [(e["session"], e["qr"], e["drawn"]) for e in told] == [("scan", FIRST, True), ("scan", SECOND, True)]
    assert "--qr-terminal" not in bridge.args()  # the bridge does not draw it as well


async def test_no_drawing_when_switched_off(fake_bridge, capsys) -> None:
    bridge = fake_bridge(SCENARIO, name="quiet", qr_terminal=False)
    with capture_logs() as logs:
        await run_until_two_codes(bridge)
    assert drawings(capsys.readouterr().err) == []
    assert [e["qr"] for e in logs if e["event"].startswith("scan this QR code")] == [FIRST, SECOND]


@pytest.mark.parametrize(("waha", "drawn"), [("False", False), ("true", True)])
def test_waha_print_qr_sets_the_terminal_drawing(monkeypatch, waha, drawn) -> None:
    monkeypatch.delenv("HOOKWIRE_QR_TERMINAL", raising=False)
    monkeypatch.setenv("WAHA_PRINT_QR", waha)
    import os

    print_qr(os.environ)
    assert BridgeSettings.from_env().qr_terminal is drawn
