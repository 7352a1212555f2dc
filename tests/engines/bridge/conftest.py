"""Fixtures of the bridge tests: a factory of :class:`BridgeSession` objects running the
scripted fake bridge (``fake_bridge.py``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from bridge_helpers import FAKE_BRIDGE, CountingTranslator, FakeBridge, RecordingContext  # type: ignore[import-not-found]

from core.config import SessionConfig
from engines.common.bridge import BridgeSession
from engines.common.bridge_settings import BridgeSettings


@pytest.fixture
def settings(tmp_path: Path) -> BridgeSettings:
    # No heartbeats unless a test asks for them: line numbers in logs stay those of the script.
    return BridgeSettings(data_dir=str(tmp_path / "data"), backoff_initial=0.01, backoff_max=0.04,
                          stop_timeout=5.0, kill_timeout=2.0, max_line_bytes=1024,
                          heartbeat_seconds=0)


@pytest.fixture
def fake_bridge(tmp_path: Path, settings: BridgeSettings) -> Callable[..., FakeBridge]:
    def make(scenario: list[list[dict[str, Any]]], name: str = "fake",
             config: dict[str, Any] | None = None, **overrides: Any) -> FakeBridge:
        """``config``: SessionConfig fields; ``overrides``: BridgeSettings fields."""
        script = tmp_path / f"scenario-{name}.json"
        script.write_text(json.dumps(scenario))
        config = msgspec.convert({"name": name, "engine": "TEST", "source": "bridge",
                                  **(config or {})}, SessionConfig)
        session_settings = BridgeSettings(**{**_fields(settings), **overrides})
        session = BridgeSession(config, lambda c: CountingTranslator(c.name), tmp_path / "bridge",
                                command=[sys.executable, str(FAKE_BRIDGE), str(script)],
                                settings=session_settings)
        return FakeBridge(session, RecordingContext(config))

    return make


def _fields(settings: BridgeSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__struct_fields__}
