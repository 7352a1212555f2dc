"""The WEBJS sandbox's phone: whatsapp-web.js records and answers, as the live bridge writes
them (see :mod:`engines.common.sandbox`).

A sent message is a ``message_create`` record of a ``Message`` (``fromMe``, ``ack`` 0), then
``message_ack`` records with ack 1 (server), 2 (device), 3 (read); the command's answer is the
same ``Message`` (what ``Client.sendMessage`` resolves to, as JSON). An incoming message is
``message_create`` then ``message`` (whatsapp-web.js emits both, in that order). Reactions,
edits and deletes give ``message_reaction``, ``message_edit`` and ``message_revoke_everyone``
as WA Web does for one's own. ``Message`` objects follow the live bridge's records (the
fields of ``Message`` and its ``_data``).
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
from engines.common.waha import parse_message_id

#: How many messages the phone remembers (for replies, reactions, edits, forwards).
KEPT_MESSAGES = 5_000
_MEDIA_TYPE = {"image": "image", "file": "document", "voice": "ptt", "video": "video"}


def wid(jid: str) -> dict[str, str]:
    user, _, server = jid.partition("@")
    return {"server": server, "user": user, "_serialized": jid}


def new_id(prefix: str = "3EB0") -> str:
    """An id as WA Web makes them (``3EB0`` and hex for this device's own)."""
    return prefix + secrets.token_hex(8).upper()


class WebjsPhone(PhoneCommands):
    engine = "WEBJS"

    def __init__(self, config: SessionConfig, me: str) -> None:
        self.me = me
        self.push_name = config.me_push_name or ""
        self.messages: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # -- building ---------------------------------------------------------------------------

    def _key(self, from_me: bool, chat: str, raw: str, participant: str | None) -> dict[str, Any]:
        serialized = f"{'true' if from_me else 'false'}_{chat}_{raw}"
        key: dict[str, Any] = {"fromMe": from_me, "remote": chat, "id": raw}
        if participant:
            serialized += f"_{participant}"
        key["_serialized"] = serialized
        if participant:
            key["participant"] = wid(participant)
        return key

    def _message(self, *, from_me: bool, chat: str, body: str, kind: str = "chat",
                 author: str | None = None, raw_id: str | None = None,
                 notify_name: str = "", extra: dict[str, Any] | None = None,
                 data_extra: dict[str, Any] | None = None, quoted: dict[str, Any] | None = None,
                 mentions: list[str] | None = None) -> dict[str, Any]:
        group = chat.endswith("@g.us")
        participant = (self.me if from_me else author) if group else None
        key = self._key(from_me, chat, raw_id or (new_id() if from_me else new_id("A5")),
                        participant)
        sender = self.me if from_me else (author if group else chat)
        now = int(time.time())
        has_media = kind in ("image", "document", "ptt", "video")
        data: dict[str, Any] = {
            "id": key, "viewed": False, "body": body, "type": kind, "t": now,
            "notifyName": notify_name, "from": wid(self.me if from_me else chat),
            "to": wid(chat if from_me else self.me), "ack": 0 if from_me else 1,
            "invis": False, "isNewMsg": True, "star": False, "recvFresh": True,
            "isForwarded": False, "hasReaction": False, "mentionedJidList": list(mentions or []),
            "groupMentions": [], "links": [], "isEphemeral": False, "isStatusV3": False,
            **(data_extra or {}),
        }
        if group and sender:
            data["author"] = wid(sender)
        if quoted is not None:
            quoted_key = quoted["id"]
            quoted_from = quoted.get("author") or quoted["from"]
            data["quotedMsg"] = {"type": quoted["type"], "body": quoted["body"],
                                 "id": {"id": quoted_key["id"]}, "from": wid(quoted_from)}
            data["quotedStanzaID"] = quoted_key["id"]
            data["quotedParticipant"] = wid(quoted_from)
        message: dict[str, Any] = {
            "_data": data, "id": key, "ack": data["ack"], "hasMedia": has_media,
            "body": body, "type": kind, "timestamp": now,
            "from": self.me if from_me else chat, "to": chat if from_me else self.me,
            **({"author": sender} if group and sender else {}),
            "deviceType": "web" if from_me else "android", "isForwarded": False,
            "forwardingScore": 0, "isStatus": False, "isStarred": False, "broadcast": False,
            "fromMe": from_me, "hasQuotedMsg": quoted is not None, "hasReaction": False,
            "vCards": [], "mentionedIds": list(mentions or []), "groupMentions": [],
            "isGif": False, "isEphemeral": False, "links": [], **(extra or {}),
        }
        self._remember(message)
        return message

    def _remember(self, message: dict[str, Any]) -> None:
        serialized = message["id"]["_serialized"]
        self.messages[serialized] = message
        self.messages.move_to_end(serialized)
        while len(self.messages) > KEPT_MESSAGES:
            self.messages.popitem(last=False)

    def _find(self, message_id: str) -> dict[str, Any]:
        found = self.messages.get(message_id)
        if found is None:
            raise CommandError("failed", f"message {message_id!r} not found (the sandbox knows "
                                         "the messages it sent, received and was seeded with)")
        return found

    def _quoted(self, args: dict[str, Any]) -> dict[str, Any] | None:
        reply_to = reply_to_of(args)
        return self._find(reply_to) if reply_to else None

    def _acks(self, message: dict[str, Any]) -> list[Ack]:
        acks = []
        for stage, ack in (("server", 1), ("device", 2), ("read", 3)):
            updated = {**message, "ack": ack, "_data": {**message["_data"], "ack": ack}}
            acks.append(Ack(stage, [{"type": "message_ack", "data": [updated, ack]}]))
        return acks

    def _sent(self, message: dict[str, Any]) -> Reply:
        return Reply(result=message, records=[{"type": "message_create", "data": message}],
                     sent_ids=[message["id"]["_serialized"]], acks=self._acks(message))

    # -- the phone --------------------------------------------------------------------------

    def login(self) -> list[dict[str, Any]]:
        return [{"type": "change_state", "data": "CONNECTED"},
                {"type": "authenticated", "data": None}, {"type": "ready", "data": None}]

    def seen(self, record: dict[str, Any]) -> None:
        if record.get("type") in ("message_create", "message") and isinstance(record.get("data"), dict):
            data = record["data"]
            if isinstance(data.get("id"), dict) and isinstance(data["id"].get("_serialized"), str):
                self._remember(data)

    def cmd_send_text(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        text = need_str(args, "text")
        return self._sent(self._message(from_me=True, chat=chat, body=text,
                                        quoted=self._quoted(args), mentions=args.get("mentions")))

    def cmd_send_media(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        media = media_of(args)
        kind = _MEDIA_TYPE[media.kind]
        caption = media.caption or ""
        data_extra = {"mimetype": media.mimetype, "size": media.size,
                      **({"filename": media.filename} if media.filename else {}),
                      **({"caption": caption} if caption else {})}
        if kind == "ptt":
            data_extra["duration"] = "0"
        return self._sent(self._message(from_me=True, chat=chat, body=caption, kind=kind,
                                        data_extra=data_extra, quoted=self._quoted(args),
                                        mentions=args.get("mentions")))

    def cmd_send_location(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        latitude, longitude = args.get("latitude"), args.get("longitude")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (latitude, longitude)):
            raise CommandError("invalid", "send-location needs numbers latitude and longitude")
        title = args.get("title") or None
        location = {"latitude": latitude, "longitude": longitude,
                    **({"name": title} if title else {})}
        return self._sent(self._message(
            from_me=True, chat=chat, body="", kind="location", quoted=self._quoted(args),
            data_extra={"lat": latitude, "lng": longitude, **({"loc": title} if title else {})},
            extra={"location": location}))

    def cmd_send_contacts(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        vcards = contacts_of(args)
        if len(vcards) == 1:
            return self._sent(self._message(from_me=True, chat=chat, body=vcards[0],
                                            kind="vcard", quoted=self._quoted(args),
                                            extra={"vCards": vcards}))
        return self._sent(self._message(
            from_me=True, chat=chat, body="", kind="multi_vcard", quoted=self._quoted(args),
            data_extra={"vcardList": [{"vcard": v} for v in vcards]}, extra={"vCards": vcards}))

    def cmd_send_poll(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        poll = poll_of(args)
        options = [{"name": name, "localId": index} for index, name in enumerate(poll.options)]
        return self._sent(self._message(
            from_me=True, chat=chat, body=poll.name, kind="poll_creation",
            quoted=self._quoted(args),
            data_extra={"pollName": poll.name, "pollOptions": options,
                        "pollSelectableOptionsCount": 0 if poll.multiple else 1},
            extra={"pollName": poll.name, "pollOptions": options,
                   "allowMultipleAnswers": poll.multiple}))

    def cmd_react(self, args: dict[str, Any]) -> Reply:
        target = self._find(message_id_of(args))
        reaction = args.get("reaction")
        if not isinstance(reaction, str):
            raise CommandError("invalid", "react needs `reaction`: an emoji, or '' to remove it")
        chat = target["id"]["remote"]
        record = {"id": self._key(True, chat, new_id(), None), "orphan": 0,
                  "orphanReason": None, "timestamp": round(time.time(), 3), "reaction": reaction,
                  "read": False, "msgId": target["id"], "senderId": self.me, "ack": None}
        return Reply(result=None, records=[{"type": "message_reaction", "data": record}],
                     sent_ids=[record["id"]["_serialized"]])

    def cmd_forward(self, args: dict[str, Any]) -> Reply:
        chat = chat_of(args)
        original = self._find(message_id_of(args))
        message = self._message(from_me=True, chat=chat, body=original["body"],
                                kind=original["type"], data_extra={
                                    k: v for k, v in original["_data"].items()
                                    if k in ("mimetype", "size", "filename", "caption")},
                                extra={"isForwarded": True, "forwardingScore": 1})
        message["_data"]["isForwarded"] = True
        # Message.forward resolves to nothing; WAHA answers {"sent": ...}: see plugins.api.sending.
        reply = self._sent(message)
        return reply._replace(result=None)

    def cmd_edit(self, args: dict[str, Any]) -> Reply:
        target = self._find(message_id_of(args))
        if not target["fromMe"]:
            raise CommandError("failed", "only one's own messages can be edited")
        text = need_str(args, "text")
        previous = target["body"]
        edited = {**target, "body": text, "_data": {**target["_data"], "body": text},
                  "latestEditSenderTimestampMs": time.time_ns() // 1_000_000,
                  "latestEditMsgKey": self._key(True, target["id"]["remote"], new_id(), None)}
        self._remember(edited)
        return Reply(result=edited, records=[{"type": "message_edit",
                                              "data": [edited, text, previous]}])

    def cmd_delete(self, args: dict[str, Any]) -> Reply:
        target = self._find(message_id_of(args))
        key = target["id"]
        revoked = {**target, "body": "", "type": "revoked", "hasMedia": False,
                   "protocolMessageKey": key,
                   "_data": {**target["_data"], "body": "", "type": "revoked",
                             "subtype": "sender_revoke", "protocolMessageKey": key}}
        self.messages.pop(key["_serialized"], None)
        return Reply(result=None, records=[{"type": "message_revoke_everyone",
                                            "data": [revoked, target]}])

    def inbound(self, args: dict[str, Any]) -> Inbound:
        chat = check_chat(args.get("from"), "from")
        group = chat.endswith("@g.us")
        author = args.get("participant")
        if group:
            author = check_chat(author, "participant")
        text = args.get("text") or ""
        quoted = self._find(args["reply_to"]) if args.get("reply_to") else None
        raw_id = args.get("id") or None
        push = args.get("pushName") or ""
        reaction = args.get("reaction")
        if reaction:
            target = self._find(reaction["messageId"])
            sender = author if group else chat
            record = {"id": self._key(False, chat, raw_id or new_id("A5"), author if group else None),
                      "orphan": 0, "orphanReason": None, "timestamp": round(time.time(), 3),
                      "reaction": reaction.get("text", ""), "read": False, "msgId": target["id"],
                      "senderId": sender, "ack": None}
            return Inbound(record["id"]["_serialized"],
                           [{"type": "message_reaction", "data": record}])
        media = args.get("media")
        kind, data_extra, body = "chat", {}, text
        if media:
            mimetype = media.get("mimetype") or "application/octet-stream"
            kind = _MEDIA_TYPE[MEDIA_TYPES.get(mimetype.split("/")[0], "file")]
            data_extra = {"mimetype": mimetype, "size": 0,
                          **({"filename": media["filename"]} if media.get("filename") else {}),
                          **({"caption": text} if text else {})}
        message = self._message(from_me=False, chat=chat, body=body, kind=kind, author=author,
                                raw_id=raw_id, notify_name=push, quoted=quoted,
                                data_extra=data_extra)
        parse_message_id(message["id"]["_serialized"])
        return Inbound(message["id"]["_serialized"],
                       [{"type": "message_create", "data": message},
                        {"type": "message", "data": message}])
