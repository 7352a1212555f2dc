"""Reading a Baileys ``proto.IMessage`` (JSON) the way WAHA does (``engine-mapping.md`` §7.4).

Content is unwrapped by Baileys' ``normalizeMessageContent`` / ``extractMessageContent`` for the
body and the media only; ``location``, ``vCards`` and ``replyTo`` read the raw, un-normalized
message, so a wrapped (ephemeral, view-once) location gives ``null`` (a WAHA quirk we keep).

Values follow JavaScript: an absent key is ``UNSET`` and tests use :func:`js_truthy`.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from core.payloads import Location, Media, ReplyTo
from engines.common.records import BadRecord
from engines.common.waha import to_cus_format
from engines.noweb.js_semantics import is_number, js_number_to_string, js_truthy
from engines.noweb.record_shapes import describe, get, need_list, need_object, present

#: Wrappers ``normalizeMessageContent`` follows through ``.message`` (up to 5 times).
FUTURE_PROOF_WRAPPERS = (
    "ephemeralMessage", "viewOnceMessage", "documentWithCaptionMessage", "viewOnceMessageV2",
    "viewOnceMessageV2Extension", "editedMessage", "associatedChildMessage",
    "groupStatusMessage", "groupStatusMessageV2",
)
#: Sub-messages that carry media, in the order WAHA's ``extractMediaContent`` tries them.
MEDIA_KINDS = ("documentMessage", "imageMessage", "videoMessage", "audioMessage", "ptvMessage",
               "stickerMessage")
_TEMPLATE_MEDIA = ("imageMessage", "documentMessage", "videoMessage", "locationMessage")
_MAX_NESTING = 16

# protobuf enum values (``proto.Message.ProtocolMessage.Type``)
REVOKE = 0
EPHEMERAL_SYNC_RESPONSE = 4
HISTORY_SYNC_NOTIFICATION = 5
MESSAGE_EDIT = 14
PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE = 17

_JS_WHITESPACE = " \t\n\r\x0b\x0c\u00a0\ufeff\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def first_truthy(obj: Any, keys: tuple[str, ...]) -> Any:
    """``obj?.a || obj?.b || …``: the first truthy value, else the last one read."""
    value: Any = UNSET
    for key in keys:
        value = get(obj, key)
        if js_truthy(value):
            return value
    return value


def is_enum(value: Any, number: int) -> bool:
    """``value === number`` (a boolean is never a number, unlike in Python)."""
    return is_number(value) and value == number


def cus(jid: Any) -> Any:
    """``toCusFormat`` that keeps an absent value absent."""
    return jid if jid is UNSET else to_cus_format(jid)


def normalize_message_content(content: Any) -> Any:
    """Baileys ``normalizeMessageContent``: follow the wrappers' ``.message`` up to 5 times."""
    if not js_truthy(content):
        return UNSET
    for _ in range(5):
        inner = first_truthy(content, FUTURE_PROOF_WRAPPERS)
        if not js_truthy(inner):
            break
        content = get(inner, "message")
    return content


def get_content_type(content: Any) -> str | None:
    """Baileys ``getContentType``: the first key that is ``conversation`` or contains
    ``Message``, skipping ``senderKeyDistributionMessage``."""
    if not isinstance(content, dict):
        return None
    for key in content:
        if (key == "conversation" or "Message" in key) and key != "senderKeyDistributionMessage":
            return key
    return None


def _from_template(template: Any, field: str) -> dict[str, Any]:
    template = need_object(template, field)
    for key in _TEMPLATE_MEDIA:
        if js_truthy(template.get(key, UNSET)):
            return {key: template[key]}
    if "contentText" in template:
        return {"conversation": template["contentText"]}
    if "hydratedContentText" in template:
        return {"conversation": template["hydratedContentText"]}
    return {"conversation": ""}


def extract_message_content(content: Any) -> Any:
    """Baileys ``extractMessageContent``: normalize, then flatten buttons and templates."""
    content = normalize_message_content(content)
    buttons = get(content, "buttonsMessage")
    if js_truthy(buttons):
        return _from_template(buttons, "buttonsMessage")
    template = get(content, "templateMessage")
    for kind in ("hydratedFourRowTemplate", "hydratedTemplate", "fourRowTemplate"):
        if js_truthy(get(template, kind)):
            return _from_template(template[kind], f"templateMessage.{kind}")
    return content


def extract_media_content(content: Any, depth: int = 0) -> dict[str, Any] | None:
    """WAHA ``extractMediaContent``: the media sub-message, also inside an associated child."""
    if depth > _MAX_NESTING:
        raise BadRecord("message content is nested too deeply")
    content = extract_message_content(content)
    media = first_truthy(content, MEDIA_KINDS)
    if js_truthy(media):
        return need_object(media, "media sub-message")
    child = get(get(content, "associatedChildMessage"), "message")
    if js_truthy(child):
        return extract_media_content(child, depth + 1)
    return None


def _join_truthy(obj: Any, keys: tuple[str, ...], field: str) -> str:
    parts = [get(obj, key) for key in keys]
    texts = [p for p in parts if js_truthy(p)]
    for text in texts:
        if not isinstance(text, str):
            raise BadRecord(f"{field}: expected text, got {describe(text)}")
    return "\n".join(texts)


def extract_body(message: Any, depth: int = 0) -> Any:
    """WAHA ``extractBody``: the first non-empty text (§7.4). Like the original it returns the
    last value it read when nothing is found (``None``, ``UNSET`` or ``''``)."""
    if depth > _MAX_NESTING:
        raise BadRecord("message content is nested too deeply")
    if not js_truthy(message):
        return None
    content = extract_message_content(message)
    if not js_truthy(content):
        return None
    conversation = get(content, "conversation")
    body: Any = conversation if js_truthy(conversation) else None
    if not js_truthy(body):
        body = get(get(content, "extendedTextMessage"), "text")
    if not js_truthy(body):
        body = get(extract_media_content(content, depth + 1), "caption")
    if not js_truthy(body):
        body = extract_body(get(get(content, "protocolMessage"), "editedMessage"), depth + 1)
    if not js_truthy(body):
        body = extract_body(get(get(content, "associatedChildMessage"), "message"), depth + 1)
    if not js_truthy(body):
        body = get(get(content, "templateButtonReplyMessage"), "selectedDisplayText")
    if not js_truthy(body):
        body = get(get(content, "buttonsResponseMessage"), "selectedDisplayText")
    if not js_truthy(body):
        kind = get_content_type(content)
        if kind == "listMessage":
            listing = need_object(content[kind], "listMessage")
            body = _join_truthy(listing, ("title", "description", "footerText"), kind)
        elif kind == "listResponseMessage":
            response = need_object(content[kind], "listResponseMessage")
            body = _join_truthy(response, ("title", "description"), kind)
    if js_truthy(body) and not isinstance(body, str):
        raise BadRecord(f"message text: expected a string, got {describe(body)}")
    return body


def media_of(message: Any) -> Media | None:
    """``media`` with download off (§4.6): ``{url: null, filename, mimetype}`` or ``null``."""
    media = extract_media_content(message)
    if media is None:
        return None
    filename = get(get(extract_message_content(message), "documentMessage"), "fileName")
    mimetype = media.get("mimetype")
    for field, value in (("fileName", filename), ("mimetype", mimetype)):
        if js_truthy(value) and not isinstance(value, str):
            raise BadRecord(f"media {field}: expected a string, got {describe(value)}")
    return Media(url=None, filename=filename if js_truthy(filename) else None,
                 mimetype=mimetype if isinstance(mimetype, str) else None)


def _is_empty(value: Any) -> bool:
    """``lodash.isEmpty``: no keys, no items, no characters; numbers and booleans are empty."""
    if isinstance(value, (dict, list, str)):
        return len(value) == 0
    return True


def _text_field(obj: dict[str, Any], key: str, field: str) -> Any:
    value = obj.get(key, UNSET)
    if present(value) and not isinstance(value, str):
        raise BadRecord(f"{field}.{key}: expected a string, got {describe(value)}")
    return value


def _coordinate(obj: dict[str, Any], key: str, field: str) -> Any:
    """``degreesLatitude?.toString()``: numbers as JavaScript prints them."""
    value = obj.get(key, UNSET)
    if not present(value):
        return UNSET
    if isinstance(value, str):
        return value
    if is_number(value):
        return js_number_to_string(value)
    raise BadRecord(f"{field}.{key}: expected a number, got {describe(value)}")


def _thumbnail(obj: dict[str, Any], field: str) -> Any:
    """WAHA ``ensureBase64``: base64 text (trimmed) stays; empty stays; other values give null."""
    value = obj.get("jpegThumbnail", UNSET)
    if not js_truthy(value):
        return value if value is UNSET or value is None or value == "" else None
    return value.strip(_JS_WHITESPACE) if isinstance(value, str) else None


def extract_location(message: Any) -> Location | None:
    """WAHA ``extractWALocation`` on the raw message; lat/lng as strings."""
    static = get(message, "locationMessage")
    if not _is_empty(static):
        loc = need_object(static, "locationMessage")
        field = "locationMessage"
        return Location(live=False, latitude=_coordinate(loc, "degreesLatitude", field),
                        longitude=_coordinate(loc, "degreesLongitude", field),
                        name=_text_field(loc, "name", field),
                        address=_text_field(loc, "address", field),
                        url=_text_field(loc, "url", field),
                        description=_text_field(loc, "comment", field),
                        thumbnail=_thumbnail(loc, field))
    live = get(message, "liveLocationMessage")
    if not _is_empty(live):
        loc = need_object(live, "liveLocationMessage")
        field = "liveLocationMessage"
        return Location(live=True, latitude=_coordinate(loc, "degreesLatitude", field),
                        longitude=_coordinate(loc, "degreesLongitude", field),
                        description=_text_field(loc, "caption", field),
                        thumbnail=_thumbnail(loc, field))
    return None


def extract_vcards(message: Any) -> list[Any] | None:
    """WAHA ``extractVCards`` on the raw message: ``[vcard]``, the contacts' vcards, or null."""
    contact = get(message, "contactMessage")
    if not _is_empty(contact):
        vcard = get(need_object(contact, "contactMessage"), "vcard")
        return [_vcard(vcard, "contactMessage.vcard")]
    many = get(message, "contactsArrayMessage")
    if not _is_empty(many):
        contacts = need_list(get(need_object(many, "contactsArrayMessage"), "contacts"),
                             "contactsArrayMessage.contacts")
        return [_vcard(get(need_object(c, f"contactsArrayMessage.contacts[{i}]"), "vcard"),
                       f"contactsArrayMessage.contacts[{i}].vcard")
                for i, c in enumerate(contacts)]
    return None


def _vcard(value: Any, field: str) -> str | None:
    if not present(value):
        return None  # JSON.stringify writes an undefined array item as null
    if not isinstance(value, str):
        raise BadRecord(f"{field}: expected text, got {describe(value)}")
    return value


def extract_reply_to(message: Any) -> ReplyTo | None:
    """WAHA ``extractReplyTo``: the quote in the raw first content key's ``contextInfo``."""
    kind = get_content_type(message)
    context = get(get(message, kind), "contextInfo") if kind else UNSET
    if not js_truthy(context):
        return None
    quoted = get(context, "quotedMessage")
    if not js_truthy(quoted):
        return None
    stanza_id = get(context, "stanzaId")
    if present(stanza_id) and not isinstance(stanza_id, str):
        raise BadRecord(f"contextInfo.stanzaId: expected a string, got {describe(stanza_id)}")
    return ReplyTo(id=stanza_id, participant=cus(get(context, "participant")),
                   body=extract_body(quoted), data=quoted)


def protocol_type(content: Any) -> Any:
    return get(get(content, "protocolMessage"), "type")


def is_edited_message(message: Any) -> bool:
    """WAHA ``IsEditedMessage``: a normalized MESSAGE_EDIT protocol message with its edit."""
    content = normalize_message_content(message)
    protocol = get(content, "protocolMessage")
    return is_enum(get(protocol, "type"), MESSAGE_EDIT) and present(get(protocol, "editedMessage"))


def is_history_sync_notification(message: Any) -> bool:
    content = normalize_message_content(message)
    protocol = get(content, "protocolMessage")
    return is_enum(get(protocol, "type"), HISTORY_SYNC_NOTIFICATION) \
        and present(get(protocol, "historySyncNotification"))


def is_real_message(message: Any) -> bool:
    """Baileys ``isRealMessage``: has content, and is not a protocol, reaction or poll-update
    message."""
    content = normalize_message_content(message)
    if not get_content_type(content):
        return False
    return not any(js_truthy(get(content, key))
                   for key in ("protocolMessage", "reactionMessage", "pollUpdateMessage"))
