"""The WEBJS engine plugin (whatsapp-web.js): registers the ``WEBJS`` engine type.

A session replays a recording or runs the live bridge in ``engines/webjs/bridge/``; either way
its records go through :class:`engines.webjs.translator.WebjsTranslator`.
"""

from __future__ import annotations

from pathlib import Path

from core import hookimpl
from core.config import SessionConfig
from core.engine import EngineSession, EngineType
from core.registry import Registry
from engines.common.session import create_engine_session
from engines.webjs.sandbox_records import WebjsPhone
from engines.webjs.translator import WebjsTranslator

BRIDGE_DIR = Path(__file__).parent / "bridge"


def create_session(config: SessionConfig) -> EngineSession:
    return create_engine_session(
        config,
        lambda c: WebjsTranslator(c.name, c.me_id, c.me_lid, c.me_push_name),
        BRIDGE_DIR,
        WebjsPhone,
    )


def create_translator(session: str, me_id: str | None, me_lid: str | None) -> WebjsTranslator:
    return WebjsTranslator(session, me_id, me_lid)


@hookimpl
def hookwire_register_engines(registry: Registry) -> None:
    registry.add_engine(EngineType(
        name="WEBJS",
        create_session=create_session,
        create_translator=create_translator,
        description="whatsapp-web.js (WAHA WEBJS) native events",
    ))
