"""Generated recordings of native records, shaped like the demo recordings (one message per
record, a few chats), so the full path includes real translation."""

from __future__ import annotations

from pathlib import Path

import msgspec

ME = "11111111111@c.us"
_encoder = msgspec.json.Encoder()


def webjs_record(i: int, ts_ms: int) -> dict:
    chat = f"2222222{i % 20:04d}@c.us"
    msg_id = f"BENCH{i:016X}"
    ident = {"fromMe": False, "remote": chat, "id": msg_id, "_serialized": f"false_{chat}_{msg_id}"}
    body = f"Benchmark message {i}: the quick brown fox jumps over the lazy dog."
    data = {
        "_data": {"id": ident, "body": body, "type": "chat", "t": ts_ms // 1000, "notifyName": "Bench",
                  "from": {"server": "c.us", "user": chat[:-5], "_serialized": chat},
                  "to": {"server": "c.us", "user": ME[:-5], "_serialized": ME}, "ack": 1},
        "id": ident, "ack": 1, "hasMedia": False, "body": body, "type": "chat",
        "timestamp": ts_ms // 1000, "from": chat, "to": ME, "fromMe": False, "hasQuotedMsg": False,
        "vCards": [], "mentionedIds": [], "links": [],
    }
    return {"type": "message_create", "data": data, "ts": ts_ms}


def noweb_record(i: int, ts_ms: int) -> dict:
    chat = f"2222222{i % 20:04d}@s.whatsapp.net"
    message = {"key": {"remoteJid": chat, "fromMe": False, "id": f"BENCH{i:016X}"},
               "messageTimestamp": ts_ms // 1000, "pushName": "Bench",
               "message": {"conversation": f"Benchmark message {i}: the quick brown fox."}}
    return {"type": "messages.upsert", "data": {"messages": [message], "type": "notify"}, "ts": ts_ms}


def write_recording(path: Path, engine: str, count: int, start_ms: int = 1_790_000_000_000,
                    spacing_ms: float = 1.0) -> Path:
    make = webjs_record if engine == "WEBJS" else noweb_record
    with path.open("wb") as out:
        for i in range(count):
            out.write(_encoder.encode(make(i, start_ms + int(i * spacing_ms))) + b"\n")
    return path
