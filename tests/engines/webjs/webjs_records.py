"""Small builders of WEBJS native records for the WEBJS tests, and a translator with fixed
clocks. Shapes follow engine-mapping.md §6.2 (whatsapp-web.js ``Message`` JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

# pytest's default import mode puts ``tests/`` on ``sys.path`` (``tests/conftest.py`` is in no
# package), so ``tests/engines`` would be imported as a namespace package named ``engines``
# and shadow the real one, which the editable install finds only through a meta-path finder
# consulted after ``sys.path``. The repository root first on the path avoids that. Test
# modules import this module before anything from ``engines``.
REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engines.webjs.translator import WebjsTranslator  # noqa: E402

ME = "11111111111@c.us"
ME_LID = "44444444444@lid"
ALICE = "22222222222@c.us"
BOB = "33333333333@c.us"
GROUP = "123456789-987654321@g.us"

#: Fixed clocks: the status history is stamped 1700000000000 ms; the wall clock (reactions
#: against the last QR) reads 1_700_000_000 s.
STATUS_MS = 1_700_000_000_000
WALL_S = 1_700_000_000.0


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_translator(me_id: str | None = ME, me_lid: str | None = ME_LID, *,
                    wall: FakeClock | None = None,
                    acks: FakeClock | None = None) -> WebjsTranslator:
    return WebjsTranslator("default", me_id, me_lid, "Demo",
                           wall_clock=wall or FakeClock(WALL_S),
                           ack_clock=acks or FakeClock(0.0),
                           status_clock_ms=lambda: STATUS_MS)


def line(record_type: str, data: Any = msgspec.UNSET, **extra: Any) -> str:
    record: dict[str, Any] = {"type": record_type}
    if data is not msgspec.UNSET:
        record["data"] = data
    record.update(extra)
    return json.dumps(record, ensure_ascii=False)


def run(translator: WebjsTranslator, record_type: str, data: Any = msgspec.UNSET,
        position: str = "test:1") -> list[tuple[str, Any]]:
    """Translate one record; ``(event name, payload as plain JSON)`` per emission."""
    emissions = translator.translate_line(line(record_type, data), position)
    return [(e.name, json.loads(msgspec.json.encode(e.payload))) for e in emissions]


def without_engine_event(result: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    assert result, "every known, valid record gives at least engine.event"
    assert result[-1][0] == "engine.event", "engine.event comes last"
    assert all(name != "engine.event" for name, _ in result[:-1])
    return result[:-1]


def wid(jid: str) -> dict[str, str]:
    user, server = jid.split("@")
    return {"server": server, "user": user, "_serialized": jid}


def node_jid(user: str, server: str | None = "s.whatsapp.net", **more: Any) -> dict[str, Any]:
    inner: dict[str, Any] = {"user": user}
    if server is not None:
        inner["server"] = server
    inner.update(more)
    return {"$1": inner}


def message(serialized: str, *, body: str = "hello", from_: str = ALICE, to: str = ME,
            msg_type: str = "chat", ack: Any = 1, timestamp: int = 1_700_000_100,
            has_media: bool = False, data_extra: dict[str, Any] | None = None,
            **fields: Any) -> dict[str, Any]:
    """A whatsapp-web.js ``Message`` as ``JSON.stringify`` renders it."""
    from_me_text, remote, msg_id, *participant = serialized.split("_")
    key: dict[str, Any] = {"fromMe": from_me_text == "true", "remote": remote, "id": msg_id,
                           "_serialized": serialized}
    if participant:
        key["participant"] = wid(participant[0])
    raw: dict[str, Any] = {"id": key, "body": body, "type": msg_type, "t": timestamp,
                           "from": wid(from_), "to": wid(to), "ack": ack}
    raw.update(data_extra or {})
    result: dict[str, Any] = {
        "_data": raw, "id": key, "ack": ack, "hasMedia": has_media, "body": body,
        "type": msg_type, "timestamp": timestamp, "from": from_, "to": to,
        "deviceType": "web", "isForwarded": False, "forwardingScore": 0, "isStatus": False,
        "isStarred": False, "fromMe": key["fromMe"], "hasQuotedMsg": False,
        "hasReaction": False, "vCards": [], "mentionedIds": [], "groupMentions": [],
        "isGif": False, "isEphemeral": False, "links": [],
    }
    result.update(fields)
    return result


def expected_message(msg: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The WAHA message payload of ``msg`` for the simple cases (no location, no quote),
    participant taken from the id; ``overrides`` replace or (value ``...``) remove keys."""
    parts = msg["id"]["_serialized"].split("_")
    payload: dict[str, Any] = {
        "id": msg["id"]["_serialized"], "timestamp": msg["timestamp"], "from": msg["from"],
        "fromMe": msg["fromMe"], "source": "app", "to": msg["to"],
    }
    if len(parts) == 4 and parts[3]:
        payload["participant"] = parts[3]
    payload.update({"body": msg["body"], "hasMedia": msg["hasMedia"], "media": None,
                    "ack": msg["ack"], "ackName": _ACK_NAMES.get(msg["ack"], "UNKNOWN"),
                    "location": None, "vCards": msg["vCards"], "_data": msg["_data"]})
    for key, value in overrides.items():
        if value is ...:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


_ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
