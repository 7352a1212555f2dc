"""Picks the session runner for a configured session: a replay or the engine's live bridge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.config import SessionConfig
from core.engine import EngineSession
from engines.common.translator import BaseTranslator


def create_engine_session(
    config: SessionConfig,
    make_translator: Callable[[SessionConfig], BaseTranslator],
    bridge_dir: Path,
) -> EngineSession:
    if config.source == "replay":
        from engines.common.replay import ReplaySession

        return ReplaySession(config, make_translator)
    from engines.common.bridge import BridgeSession  # the live bridge ([engines])

    return BridgeSession(config, make_translator, bridge_dir)
