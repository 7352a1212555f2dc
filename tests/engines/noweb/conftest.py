"""Fixtures of the NOWEB translator tests.

``noweb`` makes a translator with our own account (``11111111111@c.us`` /
``44444444444@lid``) and fixed clocks; ``feed(translator, type, data)`` translates one record
through the public entry point (``translate_line``) and returns its emissions as plain JSON
(``msgspec``-encoded, then decoded), so tests compare exact payloads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

# ``tests/`` is on ``sys.path`` (pytest's default import mode), so ``tests/engines`` could be
# imported as a namespace package named ``engines`` and shadow the real one, which the editable
# install only finds through a meta-path finder. The repository root first avoids that.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
for _name in ("core", "engines"):
    if getattr(sys.modules.get(_name), "__file__", "") is None:
        del sys.modules[_name]

from engines.noweb.translator import NowebTranslator  # noqa: E402

ME = "11111111111@c.us"
ME_LID = "44444444444@lid"
NOW_MS = 1_764_061_200_000


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jsonable(emissions: list[Any]) -> list[dict[str, Any]]:
    return [{"event": e.name, "payload": msgspec.json.decode(msgspec.json.encode(e.payload))}
            for e in emissions]


@pytest.fixture
def now_ms() -> int:
    """What the translators' wall clock says (status and group timestamps)."""
    return NOW_MS


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_translator(clock: Clock) -> Callable[..., NowebTranslator]:
    def make(me_id: str | None = ME, me_lid: str | None = ME_LID) -> NowebTranslator:
        return NowebTranslator("default", me_id, me_lid, clock_ms=lambda: NOW_MS,
                               monotonic=clock)
    return make


@pytest.fixture
def noweb(make_translator: Callable[..., NowebTranslator]) -> NowebTranslator:
    return make_translator()


Feed = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def feed() -> Feed:
    counter = {"line": 0}

    def feed_record(translator: NowebTranslator, record_type: str, data: Any = None, *,
                    engine_event: bool = False, raw: bytes | None = None) -> list[dict[str, Any]]:
        counter["line"] += 1
        line = raw if raw is not None else msgspec.json.encode({"type": record_type, "data": data})
        out = jsonable(translator.translate_line(line, f"test:{counter['line']}"))
        if not engine_event:
            assert out and out[-1]["event"] == "engine.event", "engine.event comes last"
            out = out[:-1]
        return out

    return feed_record
