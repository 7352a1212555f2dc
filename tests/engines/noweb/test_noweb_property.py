"""No input can make ``translate_line`` raise, and every rejection is deliberate.

Arbitrary bytes, arbitrary JSON under the known Baileys event types, and JSON built from the
field names the translator reads (so the deep branches are reached) are fed one by one and as
sequences (the state carries across records). Checked for each line: nothing raises; every
emission is a catalogue event whose envelope encodes; ``engine.event`` is last when the record
was accepted; and a rejected record is rejected by a check (:class:`BadRecord`), never by a
Python error escaping a mapper (the base class would log those as ``TypeError: …``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import CATALOGUE, encoder, environment, make_event
from engines.noweb.translator import BAILEYS_EVENTS, NowebTranslator

FIELDS = [
    "key", "remoteJid", "id", "fromMe", "participant", "message", "messages", "conversation",
    "extendedTextMessage", "text", "imageMessage", "audioMessage", "documentMessage", "fileName",
    "caption", "mimetype", "protocolMessage", "type", "editedMessage", "historySyncNotification",
    "reactionMessage", "pollUpdateMessage", "pollCreationMessageKey", "pollCreationMessage",
    "pollCreationMessageV3", "options", "optionName", "pollUpdates", "pollUpdateMessageKey",
    "vote", "selectedOptions", "senderTimestampMs", "locationMessage", "liveLocationMessage",
    "degreesLatitude", "degreesLongitude", "jpegThumbnail", "contactMessage", "vcard",
    "contactsArrayMessage", "contacts", "ephemeralMessage", "viewOnceMessage",
    "associatedChildMessage", "contextInfo", "quotedMessage", "stanzaId", "status",
    "messageTimestamp", "low", "high", "unsigned", "update", "receipt", "readTimestamp",
    "receiptTimestamp", "playedTimestamp", "presences", "lastKnownPresence", "lastSeen",
    "connection", "qr", "lastDisconnect", "error", "output", "statusCode", "isNewLogin",
    "participants", "action", "phoneNumber", "admin", "subject", "desc", "inviteCode", "date",
    "isGroup", "association", "labelId", "chatId", "color", "deleted", "listMessage", "title",
    "buttonsMessage", "contentText", "templateMessage", "hydratedTemplate", "me", "lid", "name",
    "senderKeyDistributionMessage", "call", "callKey", "buttonsResponseMessage",
    "selectedDisplayText", "deviceSentMessage",
]
STRINGS = [
    "22222222222@s.whatsapp.net", "11111111111:3@s.whatsapp.net", "44444444444@lid",
    "120363041234567890@g.us", "status@broadcast", "me", "", "open", "close", "composing",
    "add", "remove", "offer", "reject", "label_jid", "2025-11-25T09:00:00Z", "1700000000",
    "47uFo6UGKwU2gQ8CeV0F6Q7I5Dxbf+1w56wNu5EqIcg=", "\u0000\ufeff👩‍👩‍👧",
]

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(STRINGS) | st.sampled_from([0, 1, 3, 5, 14, 401, 515, -1]))
keys = st.sampled_from(FIELDS) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=40,
)
record_types = st.sampled_from(sorted(BAILEYS_EVENTS)) | st.text(max_size=12)
records = st.fixed_dictionaries({"type": record_types, "data": json_values})
lines = records.map(msgspec.json.encode) | st.binary(max_size=200) | json_values.map(
    msgspec.json.encode)

#: How the base class words an exception that escaped a mapper.
_ESCAPED = re.compile(r"^[A-Z]\w*(Error|Exception|Exit|Interrupt|Warning|Iteration): ")
_ENV = environment("NOWEB", None)


def check_line(translator: NowebTranslator, line: bytes, position: str) -> None:
    bad_before = translator.bad_records
    with structlog.testing.capture_logs() as logs:
        emissions = translator.translate_line(line, position)
    for entry in logs:
        assert not _ESCAPED.match(str(entry.get("error", ""))), entry
    assert translator.bad_records - bad_before == len(
        [entry for entry in logs if entry["log_level"] == "error"])
    for emission in emissions:
        assert emission.name in CATALOGUE
        envelope = make_event(None, emission.name, emission.payload, session="default",
                              engine="NOWEB", env=_ENV, me=translator.me)
        msgspec.json.decode(encoder.encode(envelope))
    if emissions:
        assert emissions[-1].name == "engine.event"
        assert [e.name for e in emissions].count("engine.event") == 1


def new_translator() -> NowebTranslator:
    return NowebTranslator("default", "11111111111@c.us", "44444444444@lid",
                           clock_ms=lambda: 1_700_000_000_000, monotonic=lambda: 5.0)


SETTINGS = settings(max_examples=400, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(lines)
def test_no_line_makes_translate_line_raise(line: bytes) -> None:
    check_line(new_translator(), line, "fuzz:1")


@SETTINGS
@given(st.lists(lines, min_size=2, max_size=12))
def test_no_sequence_of_lines_makes_it_raise(sequence: list[bytes]) -> None:
    translator = new_translator()
    translator.start()
    for number, line in enumerate(sequence, start=1):
        check_line(translator, line, f"fuzz:{number}")


CONTENT_KINDS = [
    "conversation", "extendedTextMessage", "imageMessage", "videoMessage", "audioMessage",
    "documentMessage", "stickerMessage", "ptvMessage", "locationMessage", "liveLocationMessage",
    "contactMessage", "contactsArrayMessage", "protocolMessage", "reactionMessage",
    "pollUpdateMessage", "pollCreationMessage", "pollCreationMessageV3", "ephemeralMessage",
    "viewOnceMessageV2", "documentWithCaptionMessage", "editedMessage", "associatedChildMessage",
    "buttonsMessage", "templateMessage", "listMessage", "listResponseMessage",
    "buttonsResponseMessage", "templateButtonReplyMessage", "senderKeyDistributionMessage",
    "deviceSentMessage", "call", "messageContextInfo",
]
CONTENT_FIELDS = [
    "message", "text", "caption", "mimetype", "fileName", "type", "key", "editedMessage",
    "historySyncNotification", "degreesLatitude", "degreesLongitude", "name", "address", "url",
    "comment", "jpegThumbnail", "vcard", "contacts", "contextInfo", "quotedMessage", "stanzaId",
    "participant", "remoteJid", "id", "fromMe", "pollCreationMessageKey", "options",
    "optionName", "title", "description", "footerText", "contentText", "hydratedTemplate",
    "selectedDisplayText", "callKey", "imageMessage", "conversation",
]


def content_values() -> Any:
    """Message content: content kinds holding objects of the fields the readers look at."""
    return st.recursive(
        scalars | st.sampled_from(STRINGS),
        lambda inner: (st.dictionaries(st.sampled_from(CONTENT_KINDS), inner, max_size=3)
                       | st.dictionaries(st.sampled_from(CONTENT_FIELDS), inner, max_size=4)
                       | st.lists(inner, max_size=3)),
        max_leaves=30,
    )


def message_like() -> Any:
    """An upsert whose messages have a proper key, so the content readers are reached."""
    key = st.fixed_dictionaries(
        {"remoteJid": st.sampled_from(STRINGS[:5]), "id": st.text(min_size=1, max_size=8)},
        optional={"fromMe": st.booleans(), "participant": st.sampled_from(STRINGS[:4])})
    content = st.dictionaries(st.sampled_from(CONTENT_KINDS), content_values(), max_size=3)
    message = st.fixed_dictionaries({"key": key, "message": content},
                                    optional={"status": scalars, "messageTimestamp": scalars})
    return st.fixed_dictionaries({"messages": st.lists(message, min_size=1, max_size=3),
                                  "type": st.just("notify")})


@SETTINGS
@given(message_like())
def test_messages_with_arbitrary_content_never_raise(data: dict[str, Any]) -> None:
    check_line(new_translator(), msgspec.json.encode({"type": "messages.upsert", "data": data}),
               "fuzz:1")
