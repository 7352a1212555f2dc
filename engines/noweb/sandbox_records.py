"""The NOWEB sandbox's phone: Baileys records and answers, as the live bridge writes them
(see :mod:`engines.common.sandbox`).

A sent message is a ``messages.upsert`` record (``type: "append"``, ``key.fromMe``, status 1
PENDING), then ``messages.update`` records with status 2 (server ack), 3 (delivered), 4
(read); the command's answer is the ``WebMessageInfo`` that ``sock.sendMessage`` resolves to,
as JSON (``messageTimestamp`` a string, ``status`` ``"PENDING"``: protobuf's JSON form, what
WAHA answers). An incoming message is a ``messages.upsert`` of ``type: "notify"``.
Reactions, edits and deletes are messages too (``reactionMessage``; ``protocolMessage`` of
type 14 MESSAGE_EDIT or 0 REVOKE), as Baileys sends them.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Any

from core.config import SessionConfig
from core.engine import CommandError
from engines.common.sandbox import Ack, Inbound, PhoneCommands, Reply
from engines.common.sandbox_args import (
    MEDIA_TYPES,
    chat_of,
    check_chat,
    contacts_of,
    media_of,
    message_id_of,
    need_str,
    poll_of,
    reply_to_of,
)
from engines.common.waha import build_message_id, parse_message_id

KEPT_MESSAGES = 5_000
PENDING, SERVER_ACK, DELIVERY_ACK, READ = 1, 2, 3, 4
_STATUS_NAMES = {PENDING: "PENDING", SERVER_ACK: "SERVER_ACK", DELIVERY_ACK: "DELIVERY_ACK",
                 READ: "READ"}
REVOKE, MESSAGE_EDIT = 0, 14


def to_jid(chat: str) -> str:
    """WAHA's ``toJID``: ``…@c.us`` → ``…@s.whatsapp.net``; others unchanged."""
    return chat[: -len("@c.us")] + "@s.whatsapp.net" if chat.endswith("@c.us") else chat


def new_id() -> str:
    """An id as Baileys makes them (``generateMessageIDV2``: ``3EB0`` and hex)."""
    return "3EB0" + secrets.token_hex(9).upper()


def as_answer(message: dict[str, Any]) -> dict[str, Any]:
    """The ``WebMessageInfo`` as protobuf's JSON writes it (what WAHA answers)."""
    answer = {**message, "messageTimestamp": str(message["messageTimestamp"])}
    status = message.get("status")
    if isinstance(status, int):
        answer["status"] = _STATUS_NAMES.get(status, status)
    return answer


class NowebPhone(PhoneCommands):
    engine = "NOWEB"

    def __init__(self, config: SessionConfig, me: str) -> None:
        self.me = me
        self.me_jid = to_jid(me)
        self.push_name = config.me_push_name or ""
        self.messages: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _remember(self, message: dict[str, Any]) -> str:
        key = message["key"]
        waha_id = build_message_id(key.get("fromMe"), key["remoteJid"], key["id"],
                                   key.get("participant"))
        self.messages[waha_id] = message
        self.messages.move_to_end(waha_id)
        while len(self.messages) > KEPT_MESSAGES:
            self.messages.popitem(last=False)
        return waha_id

    def _find(self, message_id: str) -> dict[str, Any]:
        found = self.messages.get(message_id)
        if found is None:
            raise CommandError("failed", f"message {message_id!r} not found (the sandbox knows "
                                         "the messages it sent, received and was seeded with)")
        return found

    def _context(self, args: dict[str, Any], mentions: Any = None) -> dict[str, Any] | None:
        context: dict[str, Any] = {}
        reply_to = reply_to_of(args)
        if reply_to:
            quoted = self._find(reply_to)
            key = quoted["key"]
            context.update(stanzaId=key["id"],
                           participant=key.get("participant") or (
                               self.me_jid if key.get("fromMe") else key["remoteJid"]),
                           quotedMessage=quoted.get("message") or {})
        if mentions:
            context["mentionedJid"] = [to_jid(m) for m in mentions]
        return context or None

    def _outgoing(self, chat: str, content: dict[str, Any], *, acks: bool = True,
                  message_id: str | None = None) -> Reply:
        message = {"key": {"remoteJid": to_jid(chat), "fromMe": True,
                           "id": message_id or new_id()},
                   "message": content, "messageTimestamp": int(time.time()), "status": PENDING}
        waha_id = self._remember(message)
        record = {**message, "messageTimestamp": str(message["messageTimestamp"])}
        stages = []
        if acks:
            for stage, status in (("server", SERVER_ACK), ("device", DELIVERY_ACK), ("read", READ)):
                if stage != "server" and chat.endswith("@g.us"):
                    break  # a group's delivery and read come per participant (receipts)
                stages.append(Ack(stage, [{"type": "messages.update", "data": [
                    {"key": message["key"], "update": {"status": status,
                                                       "messageTimestamp": int(time.time())}}]}]))
        return Reply(result=as_answer(message),
                     records=[{"type": "messages.upsert", "data": {"messages": [record],
                                                                   "type": "append"}}],
                     sent_ids=[waha_id], acks=stages)

    # -- the phone --------------------------------------------------------------------------

    def login(self) -> list[dict[str, Any]]:
        user = self.me.split("@", 1)[0]
        me: dict[str, Any] = {"id": f"{user}:1@s.whatsapp.net"}
        if self.push_name:
            me["name"] = self.push_name
        return [{"type": "connection.update",
                 "data": {"connection": "connecting", "receivedPendingNotifications": False}},
                {"type": "creds.update", "data": {"me": me}},
                {"type": "connection.update", "data": {"connection": "open"}}]

    def seen(self, record: dict[str, Any]) -> None:
        if record.get("type") != "messages.upsert" or not isinstance(record.get("data"), dict):
            return
        for message in record["data"].get("messages") or []:
            if isinstance(message, dict) and isinstance(message.get("key"), dict) \
                    and isinstance(message["key"].get("remoteJid"), str) \
                    and isinstance(message["key"].get("id"), str):
                self._remember(message)

    def cmd_send_text(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        text = need_str(args, "text")
        context = self._context(args, args.get("mentions"))
        content: dict[str, Any] = {"extendedTextMessage": {"text": text}}
        if context:
            content["extendedTextMessage"]["contextInfo"] = context
        given = args.get("id")  # Baileys takes a pre-generated id (sendMessage's messageId)
        return self._outgoing(chat, content, message_id=given if isinstance(given, str) else None)

    def cmd_send_media(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        media = media_of(args)
        body: dict[str, Any] = {"mimetype": media.mimetype, "fileLength": str(media.size),
                                "mediaKey": secrets.token_bytes(32).hex(),
                                "fileSha256": secrets.token_bytes(32).hex()}
        if media.caption and media.kind != "voice":
            body["caption"] = media.caption
        context = self._context(args, args.get("mentions"))
        if context:
            body["contextInfo"] = context
        if media.kind == "image":
            content = {"imageMessage": body}
        elif media.kind == "video":
            content = {"ptvMessage" if media.as_note else "videoMessage": body}
        elif media.kind == "voice":
            content = {"audioMessage": {**body, "ptt": True, "seconds": 0}}
        else:
            content = {"documentMessage": {**body, "fileName": media.filename or "file"}}
        return self._outgoing(chat, content)

    def cmd_send_location(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        latitude, longitude = args.get("latitude"), args.get("longitude")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (latitude, longitude)):
            raise CommandError("invalid", "send-location needs numbers latitude and longitude")
        location: dict[str, Any] = {"degreesLatitude": latitude, "degreesLongitude": longitude}
        if args.get("title"):
            location["name"] = args["title"]
        context = self._context(args)
        if context:
            location["contextInfo"] = context
        return self._outgoing(chat, {"locationMessage": location})

    def cmd_send_contacts(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        vcards = contacts_of(args)
        cards = [{"displayName": _display_name(v), "vcard": v} for v in vcards]
        if len(cards) == 1:
            return self._outgoing(chat, {"contactMessage": cards[0]})
        return self._outgoing(chat, {"contactsArrayMessage": {
            "displayName": f"{len(cards)} contacts", "contacts": cards}})

    def cmd_send_poll(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        poll = poll_of(args)
        count = len(poll.options) if poll.multiple else 1
        body = {"name": poll.name, "options": [{"optionName": o} for o in poll.options],
                "selectableOptionsCount": count}
        kind = "pollCreationMessageV3" if count == 1 else "pollCreationMessage"
        return self._outgoing(chat, {kind: body, "messageContextInfo": {
            "messageSecret": secrets.token_bytes(32).hex()}})

    def cmd_react(self, args: dict[str, Any]) -> Reply:
        target_id = message_id_of(args)
        target = self._find(target_id)
        reaction = args.get("reaction")
        if not isinstance(reaction, str):
            raise CommandError("invalid", "react needs `reaction`: an emoji, or '' to remove it")
        _, chat, _, _ = parse_message_id(target_id)
        return self._outgoing(chat, {"reactionMessage": {
            "key": target["key"], "text": reaction,
            "senderTimestampMs": str(time.time_ns() // 1_000_000)}}, acks=False)

    def cmd_forward(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        original = self._find(message_id_of(args))
        content = dict(original.get("message") or {})
        if "conversation" in content:
            content = {"extendedTextMessage": {"text": content["conversation"]}}
        for name, body in list(content.items()):
            if isinstance(body, dict) and name != "messageContextInfo":
                content[name] = {**body, "contextInfo": {"isForwarded": True, "forwardingScore": 1}}
        return self._outgoing(chat, content)

    def cmd_edit(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        target = self._find(message_id_of(args))
        if not target["key"].get("fromMe"):
            raise CommandError("failed", "only one's own messages can be edited")
        text = need_str(args, "text")
        return self._outgoing(chat, {"protocolMessage": {
            "key": target["key"], "type": MESSAGE_EDIT,
            "editedMessage": {"conversation": text},
            "timestampMs": str(time.time_ns() // 1_000_000)}}, acks=False)

    def cmd_delete(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        message_id = message_id_of(args)
        target = self._find(message_id)
        reply = self._outgoing(chat, {"protocolMessage": {"key": target["key"], "type": REVOKE}},
                               acks=False)
        self.messages.pop(message_id, None)
        return reply

    def inbound(self, args: dict[str, Any]) -> Inbound:
        chat = check_chat(args.get("from"), "from")
        key: dict[str, Any] = {"remoteJid": to_jid(chat), "fromMe": False,
                               "id": args.get("id") or secrets.token_hex(16).upper()}
        if chat.endswith("@g.us"):
            key["participant"] = to_jid(check_chat(args.get("participant"), "participant"))
        text = args.get("text") or ""
        content: dict[str, Any]
        reaction = args.get("reaction")
        if reaction:
            target = self._find(reaction["messageId"])
            content = {"reactionMessage": {"key": target["key"], "text": reaction.get("text", ""),
                                           "senderTimestampMs": str(time.time_ns() // 1_000_000)}}
        elif args.get("media"):
            media = args["media"]
            mimetype = media.get("mimetype") or "application/octet-stream"
            kind = MEDIA_TYPES.get(mimetype.split("/")[0], "file")
            body: dict[str, Any] = {"mimetype": mimetype, "fileLength": "0"}
            if text:
                body["caption"] = text
            content = {"image": {"imageMessage": body}, "video": {"videoMessage": body},
                       "voice": {"audioMessage": {**body, "ptt": True}}}.get(
                kind, {"documentMessage": {**body, "fileName": media.get("filename") or "file"}})
        else:
            context = self._context({"replyTo": args.get("reply_to")})
            content = ({"extendedTextMessage": {"text": text, "contextInfo": context}}
                       if context else {"conversation": text})
        message: dict[str, Any] = {"key": key, "messageTimestamp": int(time.time()),
                                   "message": content}
        if args.get("pushName"):
            message["pushName"] = args["pushName"]
        waha_id = self._remember(message)
        return Inbound(waha_id, [{"type": "messages.upsert",
                                  "data": {"messages": [message], "type": "notify"}}])


def _display_name(vcard: str) -> str:
    for line in vcard.splitlines():
        if line.upper().startswith("FN:"):
            return line[3:].strip()
    return ""
