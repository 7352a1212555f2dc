"""The JavaScript value rules the NOWEB mapping relies on."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec import UNSET

from engines.common.records import BadRecord
from engines.noweb.js_semantics import (
    ensure_number,
    js_date_ms,
    js_number_to_string,
    js_truthy,
    ms_to_seconds,
)


@pytest.mark.parametrize(("value", "text"), [
    (48.8584, "48.8584"), (2.2945, "2.2945"), (47.0, "47"), (-0.5, "-0.5"), (0.0, "0"),
    (1e-06, "0.000001"), (1e-07, "1e-7"), (1.5e-10, "1.5e-10"), (1e20, "100000000000000000000"),
    (1e21, "1e+21"), (1.5e22, "1.5e+22"), (123456789.123, "123456789.123"), (7, "7"),
    (10**22, "1e+22"), (0.1 + 0.2, "0.30000000000000004"),
])
def test_number_to_string(value: float, text: str) -> None:
    assert js_number_to_string(value) == text


@pytest.mark.parametrize(("value", "truthy"), [
    ({}, True), ([], True), ("0", True), (0, False), (0.0, False), ("", False), (None, False),
    (UNSET, False), (False, False), (-1, True),
])
def test_truthiness(value: Any, truthy: bool) -> None:
    assert js_truthy(value) is truthy


@pytest.mark.parametrize(("value", "number"), [
    (1700000000, 1700000000), (" 1700000000", 1700000000), ("-5", -5), (12.5, 12.5),
    (1700000000.0, 1700000000), (0, 0), (None, None), (UNSET, UNSET),
    ({"low": 1700000000, "high": 0, "unsigned": True}, 1700000000),
    ({"low": -1, "high": 0, "unsigned": True}, 4294967295),
    ({"low": -1, "high": -1, "unsigned": False}, -1),
    ({"low": 0, "high": 1, "unsigned": False}, 4294967296),
])
def test_ensure_number(value: Any, number: Any) -> None:
    assert ensure_number(value, "f") == number


@pytest.mark.parametrize("value", ["", "soon", "12abc", True, [], {"low": 1}, {"low": "1",
                                                                             "high": 0,
                                                                             "unsigned": True}])
def test_ensure_number_rejects(value: Any) -> None:
    with pytest.raises(BadRecord, match="^f: "):
        ensure_number(value, "f")


def test_dates() -> None:
    assert js_date_ms("2025-11-25T09:15:00.000Z", "d") == 1764062100000
    assert js_date_ms("2025-11-25T10:15:00+01:00", "d") == 1764062100000
    assert js_date_ms(1764062100250.9, "d") == 1764062100250
    assert ms_to_seconds(1764062100000) == 1764062100
    assert ms_to_seconds(1764062100250) == 1764062100.25
    with pytest.raises(BadRecord):
        js_date_ms("yesterday", "d")
