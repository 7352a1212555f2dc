"""A test-only engine plugin: each record line ``{"type": <event name>, "data": <payload>}`` is
emitted as that event with that payload, so webhook tests control exactly what is delivered."""

from __future__ import annotations

from pathlib import Path

from core import hookimpl
from core.config import SessionConfig
from core.engine import Emission, EngineType
from core.registry import Registry
from engines.common.records import NativeRecord
from engines.common.session import create_engine_session
from engines.common.translator import BaseTranslator


class ScriptedTranslator(BaseTranslator):
    engine = "SCRIPTED"

    def map(self, record: NativeRecord, position: str) -> list[Emission]:
        return [Emission(record.type, record.data)]


def _translator(config: SessionConfig) -> ScriptedTranslator:
    return ScriptedTranslator(config.name, config.me_id, config.me_lid, config.me_push_name)


@hookimpl
def hookwire_register_engines(registry: Registry) -> None:
    registry.add_engine(EngineType(
        name="SCRIPTED",
        create_session=lambda cfg: create_engine_session(cfg, _translator, Path("/nonexistent")),
        create_translator=lambda session, me_id, me_lid: ScriptedTranslator(session, me_id, me_lid),
    ))
