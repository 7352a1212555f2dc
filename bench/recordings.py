"""Generated recordings of native records shaped like the real ones (the demo recordings are
the model): one message per record, 20 chats, so the full path includes real translation.

WEBJS records are ``message_create`` with the whole ``_data`` object whatsapp-web.js sends
(every sixth one quotes an earlier message), giving ``message.any`` envelopes of ~1.8 KB;
NOWEB records are Baileys ``messages.upsert`` notifications (plain and extended text, device
list metadata), whose envelopes carry the message as ``_data``.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

ME = "11111111111@c.us"
_encoder = msgspec.json.Encoder()

_BODIES = (
    "Hi! Are we still on for lunch tomorrow? 🍝 I booked the table by the window at 12:30.",
    "Order #{i} is ready for pickup at the front desk; please bring the confirmation code.",
    "Thanks, received. I will forward the invoice to accounting before the end of the day.",
    "Can you send me the address again? The link in the last message does not open for me.",
)


def _jid(chat: str) -> dict[str, str]:
    user, server = chat.split("@")
    return {"server": server, "user": user, "_serialized": chat}


def webjs_record(i: int, ts_ms: int) -> dict:
    chat = f"2222222{i % 20:04d}@c.us"
    msg_id = f"3EB0{i:016X}A1C2"
    ident = {"fromMe": False, "remote": chat, "id": msg_id, "_serialized": f"false_{chat}_{msg_id}"}
    body = _BODIES[i % len(_BODIES)].format(i=i)
    t = ts_ms // 1000
    data = {
        "id": ident, "viewed": False, "body": body, "type": "chat", "t": t, "notifyName": "Bench",
        "from": _jid(chat), "to": _jid(ME), "ack": 1, "invis": False, "isNewMsg": True,
        "star": False, "kicNotified": False, "recvFresh": True, "isFromTemplate": False,
        "pollInvalidated": False, "isSentCagPollCreation": False, "latestEditMsgKey": None,
        "latestEditSenderTimestampMs": None, "mentionedJidList": [], "groupMentions": [],
        "isEventCanceled": False, "eventInvalidated": False, "isForwarded": False,
        "hasReaction": False, "lastPlaybackProgress": 0, "parentMsgId": None, "isMdHistoryMsg": False,
        "stickerSentTs": 0, "isAvatar": False,
        "lastUpdateFromServerTs": 0, "requiresDirectConnection": False,
        "links": [], "isEphemeral": False, "isStatusV3": False,
    }
    if i % 6 == 5:
        data["quotedMsg"] = {"type": "chat", "body": _BODIES[(i - 1) % len(_BODIES)].format(i=i - 1),
                             "id": {"id": f"3EB0{i - 1:016X}A1C2"}, "from": _jid(chat)}
        data["quotedStanzaID"] = f"3EB0{i - 1:016X}A1C2"
        data["quotedParticipant"] = _jid(chat)
    message = {
        "_data": data, "id": ident, "ack": 1, "hasMedia": False, "body": body, "type": "chat",
        "timestamp": t, "from": chat, "to": ME, "deviceType": "android", "isForwarded": False,
        "forwardingScore": 0, "isStatus": False, "isStarred": False, "broadcast": False,
        "fromMe": False, "hasQuotedMsg": i % 6 == 5, "hasReaction": False, "vCards": [],
        "mentionedIds": [], "groupMentions": [], "isGif": False, "isEphemeral": False, "links": [],
    }
    return {"type": "message_create", "data": message, "ts": ts_ms}


def noweb_record(i: int, ts_ms: int) -> dict:
    chat = f"2222222{i % 20:04d}@s.whatsapp.net"
    body = _BODIES[i % len(_BODIES)].format(i=i)
    context = {"deviceListMetadata": {"senderKeyHash": "8wqa41u+9yoZyg==", "senderTimestamp": "1764000000",
                                      "recipientKeyHash": "pX3vUy1EJ4remA==", "recipientTimestamp": "1764000100"},
               "deviceListMetadataVersion": 2, "messageSecret": "nxeClO0/BfrF3eavm0txyJ5dmVp6PcCn+j/N6HmKI0A="}
    content: dict = ({"conversation": body, "messageContextInfo": context} if i % 2 == 0 else
                     {"extendedTextMessage": {"text": body, "previewType": 0, "inviteLinkGroupTypeV2": 0,
                                              "contextInfo": {"expiration": 0, "ephemeralSettingTimestamp": "0",
                                                              "disappearingMode": {"initiator": 0}}},
                      "messageContextInfo": context})
    message = {"key": {"remoteJid": chat, "fromMe": False, "id": f"A5F0{i:016X}34CD56EF"},
               "messageTimestamp": ts_ms // 1000, "pushName": "Bench", "broadcast": False,
               "message": content}
    return {"type": "messages.upsert", "data": {"messages": [message], "type": "notify"}, "ts": ts_ms}


def write_recording(path: Path, engine: str, count: int, start_ms: int = 1_790_000_000_000,
                    spacing_ms: float = 1.0) -> Path:
    make = webjs_record if engine == "WEBJS" else noweb_record
    with path.open("wb") as out:
        for i in range(count):
            out.write(_encoder.encode(make(i, start_ms + int(i * spacing_ms))) + b"\n")
    return path
