"""The NOWEB engine plugin (Baileys): registers ``NOWEB`` with the kernel.

Loaded through the ``hookwire`` entry point ``noweb = "engines.noweb.plugin"``, the same path a
third-party engine takes.
"""

from __future__ import annotations

from pathlib import Path

from core import hookimpl
from core.config import SessionConfig
from core.engine import EngineSession, EngineType
from core.registry import Registry
from engines.common.session import create_engine_session
from engines.noweb.sandbox_records import NowebPhone
from engines.noweb.translator import NowebTranslator

BRIDGE_DIR = Path(__file__).parent / "bridge"


def _translator_for(config: SessionConfig) -> NowebTranslator:
    return NowebTranslator(config.name, config.me_id, config.me_lid, config.me_push_name)


def create_session(config: SessionConfig) -> EngineSession:
    return create_engine_session(config, _translator_for, BRIDGE_DIR, NowebPhone)


def create_translator(session: str, me_id: str | None, me_lid: str | None) -> NowebTranslator:
    return NowebTranslator(session, me_id, me_lid)


NOWEB = EngineType(
    name="NOWEB",
    create_session=create_session,
    create_translator=create_translator,
    description="Baileys (WhatsApp Web multi-device socket), WAHA NOWEB mapping",
)


@hookimpl
def hookwire_register_engines(registry: Registry) -> None:
    registry.add_engine(NOWEB)
