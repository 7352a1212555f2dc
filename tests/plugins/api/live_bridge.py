"""A live engine for the API tests: engine ``TEST``, whose sessions run the scripted fake bridge
(``tests/engines/bridge/fake_bridge.py``, a real subprocess speaking the bridge protocol:
records, heartbeats, commands and their answers) through the real :class:`BridgeSession`.

Every session created over the API plays the same scenario (a JSON list of runs, see the fake
bridge); each session's auth dir holds what its bridge received (``commands.jsonl``,
``args.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BRIDGE_TESTS = Path(__file__).resolve().parents[2] / "engines" / "bridge"
if str(BRIDGE_TESTS) not in sys.path:
    sys.path.insert(0, str(BRIDGE_TESTS))

from bridge_helpers import FAKE_BRIDGE, CountingTranslator  # noqa: E402  (tests/engines/bridge)

from core import hookimpl  # noqa: E402
from core.config import SessionConfig  # noqa: E402
from core.engine import EngineType  # noqa: E402
from core.registry import Registry  # noqa: E402
from engines.common.bridge import BridgeSession  # noqa: E402
from engines.common.bridge_settings import BridgeSettings  # noqa: E402

ME = "11111111111@c.us"


def working(me: str = ME, push_name: str = "Tester") -> list[dict[str, Any]]:
    """A run that logs in at once and answers ``me``, then serves commands until stopped."""
    return [{"record": {"type": "status", "data": "WORKING"}}, {"heartbeat": "WORKING"},
            {"answers": {"me": {"result": {"id": me, "pushName": push_name}},
                         "pairing-code": {"result": {"code": "ABCD-EFGH"}}}},
            {"wait": True}]


def waiting_for_login() -> list[dict[str, Any]]:
    """A run waiting for a login (pairing codes are answered), serving commands until stopped."""
    return [{"record": {"type": "status", "data": "SCAN_QR_CODE"}}, {"heartbeat": "SCAN_QR_CODE"},
            {"answers": {"pairing-code": {"result": {"code": "WXYZ-1234"}}}}, {"wait": True}]


class LiveBridgePlugin:
    """``engine``: the name it registers (``NOWEB``/``WEBJS`` when the real engines are not
    loaded: their config then applies, e.g. ``noweb.markOnline``)."""

    def __init__(self, scenario: list[list[dict[str, Any]]], data_dir: Path,
                 engine: str = "TEST", **settings: Any) -> None:
        self.engine = engine
        self.settings = settings
        self.data_dir = data_dir
        self.script = data_dir / "scenario.json"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.script.write_text(json.dumps(scenario))
        self.sessions: list[BridgeSession] = []

    def create_session(self, config: SessionConfig) -> BridgeSession:
        settings = BridgeSettings(**{"data_dir": str(self.data_dir), "backoff_initial": 0.05,
                                     "backoff_max": 0.2, "stop_timeout": 5.0, "kill_timeout": 2.0,
                                     "heartbeat_seconds": 0.5, "stall_seconds": 0, **self.settings})
        session = BridgeSession(config, lambda c: CountingTranslator(c.name), self.data_dir,
                                command=[sys.executable, str(FAKE_BRIDGE), str(self.script)],
                                settings=settings)
        self.sessions.append(session)
        return session

    def auth_dir(self, session: str) -> Path:
        return BridgeSettings(data_dir=str(self.data_dir)).auth_dir(session)

    def commands(self, session: str) -> list[dict[str, Any]]:
        path = self.auth_dir(session) / "commands.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def args(self, session: str) -> list[str]:
        """The command line of the session's last bridge run (after the script's path)."""
        return json.loads((self.auth_dir(session) / "args.json").read_text())

    def env(self, session: str) -> dict[str, Any]:
        return json.loads((self.auth_dir(session) / "env.json").read_text())

    @hookimpl
    def hookwire_register_engines(self, registry: Registry) -> None:
        registry.add_engine(EngineType(name=self.engine, create_session=self.create_session,
                                       create_translator=lambda s, me_id, me_lid: CountingTranslator(s)))
