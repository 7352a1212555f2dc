"""Picks the session runner for a configured session: a replay, the engine's live bridge, or
the sandbox (a session without a phone, played by the engine's :class:`SandboxPhone`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import SessionConfig
from core.engine import EngineSession
from engines.common.translator import BaseTranslator


def create_engine_session(
    config: SessionConfig,
    make_translator: Callable[[SessionConfig], BaseTranslator],
    bridge_dir: Path,
    make_phone: Callable[[SessionConfig, str], Any] | None = None,
) -> EngineSession:
    if config.source == "sandbox":
        from engines.common.sandbox import SandboxSession

        if make_phone is None:
            raise ValueError(f"session {config.name!r}: engine {config.engine} has no sandbox")
        return SandboxSession(config, make_translator, make_phone)
    if config.source == "replay":
        from engines.common.replay import ReplaySession

        return ReplaySession(config, make_translator)
    from engines.common.bridge import BridgeSession  # the live bridge ([engines])

    return BridgeSession(config, make_translator, bridge_dir)
