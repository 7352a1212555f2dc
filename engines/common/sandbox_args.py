"""The arguments of the send commands, as both bridges and the sandbox read them.

The commands and their arguments (chat ids in WAHA's form: ``…@c.us``, ``…@g.us``,
``…@lid``, ``…@newsletter``; message ids as WAHA writes them, ``true_<chat>_<id>``):

=================  ===========================================================================
``send-text``      ``chatId``, ``text``, ``replyTo``?, ``mentions``? (chat ids), ``linkPreview``?
``send-media``     ``chatId``, ``kind`` (``image``, ``file``, ``voice``, ``video``), ``file``
                   ``{mimetype, filename?, data}`` (base64), ``caption``?, ``replyTo``?,
                   ``mentions``?, ``asNote``? (a round video)
``send-location``  ``chatId``, ``latitude``, ``longitude``, ``title``?, ``replyTo``?
``send-contacts``  ``chatId``, ``contacts`` (vCard strings), ``replyTo``?
``send-poll``      ``chatId``, ``name``, ``options``, ``multipleAnswers``, ``replyTo``?
``react``          ``messageId``, ``reaction`` (an emoji; ``""`` removes it)
``forward``        ``chatId`` (where to), ``messageId``
``edit``           ``chatId``, ``messageId``, ``text``, ``mentions``?, ``linkPreview``?
``delete``         ``chatId``, ``messageId`` (for everyone)
``send-seen``      ``chatId``, ``messageIds``, ``participant``?
``presence``       ``presence`` (``online``, ``offline``, ``typing``, ``recording``,
                   ``paused``), ``chatId`` (for the last three)
=================  ===========================================================================

The JavaScript side reads the same in ``engines/common/bridge_protocol.mjs``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, NamedTuple

from core.engine import CommandError

CHAT_ID = re.compile(r"^[0-9A-Za-z.:_-]{1,64}@(c\.us|g\.us|lid|newsletter|broadcast|s\.whatsapp\.net)$")
#: A MIME type's major part → the kind of message it makes when received.
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "voice"}
MEDIA_KINDS = ("image", "file", "voice", "video")


def check_chat(value: Any, field: str) -> str:
    if not isinstance(value, str) or not CHAT_ID.match(value):
        raise CommandError("invalid", f"`{field}` must be a chat id such as "
                                      f"11111111111@c.us or …@g.us, got {value!r}")
    return value


def chat_of(args: dict[str, Any]) -> str:
    return check_chat(args.get("chatId"), "chatId")


def need_str(args: dict[str, Any], field: str) -> str:
    value = args.get(field)
    if not isinstance(value, str):
        raise CommandError("invalid", f"`{field}` must be a string, got {value!r}")
    return value


def message_id_of(args: dict[str, Any], field: str = "messageId") -> str:
    value = args.get(field)
    if not isinstance(value, str) or len(value.split("_")) not in (3, 4):
        raise CommandError("invalid", f"`{field}` must be a message id as WAHA writes it "
                                      f"(true_11111111111@c.us_AAAA…), got {value!r}")
    return value


def reply_to_of(args: dict[str, Any]) -> str | None:
    if args.get("replyTo") in (None, ""):
        return None
    return message_id_of(args, "replyTo")


class Media(NamedTuple):
    kind: str
    mimetype: str
    filename: str | None
    data: bytes
    caption: str | None
    as_note: bool

    @property
    def size(self) -> int:
        return len(self.data)


def media_of(args: dict[str, Any]) -> Media:
    kind = args.get("kind")
    if kind not in MEDIA_KINDS:
        raise CommandError("invalid", f"`kind` must be one of {', '.join(MEDIA_KINDS)}, got {kind!r}")
    file = args.get("file")
    if not isinstance(file, dict):
        raise CommandError("invalid", "`file` must be {mimetype, filename?, data}")
    mimetype = file.get("mimetype")
    if not isinstance(mimetype, str) or "/" not in mimetype:
        raise CommandError("invalid", f"`file.mimetype` must be a MIME type, got {mimetype!r}")
    try:
        data = base64.b64decode(file.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise CommandError("invalid", "`file.data` must be base64") from None
    caption = args.get("caption")
    filename = file.get("filename")
    return Media(kind=kind, mimetype=mimetype, filename=filename if isinstance(filename, str) else None,
                 data=data, caption=caption if isinstance(caption, str) else None,
                 as_note=bool(args.get("asNote")))


def contacts_of(args: dict[str, Any]) -> list[str]:
    contacts = args.get("contacts")
    if not isinstance(contacts, list) or not contacts or not all(
            isinstance(c, str) and c.strip() for c in contacts):
        raise CommandError("invalid", "`contacts` must be a non-empty list of vCard strings")
    return list(contacts)


class Poll(NamedTuple):
    name: str
    options: list[str]
    multiple: bool


def poll_of(args: dict[str, Any]) -> Poll:
    name = need_str(args, "name")
    options = args.get("options")
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
        raise CommandError("invalid", "`options` must be a list of at least 2 strings")
    return Poll(name=name, options=list(options), multiple=bool(args.get("multipleAnswers")))
