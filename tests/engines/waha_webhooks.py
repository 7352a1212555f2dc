"""waha-py's webhook models (``waha.models``, generated from WAHA's OpenAPI spec), picked by
event name, with the few fields where the generated model is itself wrong against what WAHA
sends corrected (each correction says why). Imported by the envelope fidelity tests."""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from waha import models as m

#: The model of each event's envelope. ``message.waiting`` has none in waha-py: WAHA sends it
#: with a ``WAMessage`` payload, as ``message``.
MODELS: dict[str, type[pydantic.BaseModel]] = {
    "session.status": m.WAHAWebhookSessionStatus,
    "message": m.WAHAWebhookMessage,
    "message.any": m.WAHAWebhookMessageAny,
    "message.waiting": m.WAHAWebhookMessage,
    "message.reaction": m.WAHAWebhookMessageReaction,
    "message.ack": m.WAHAWebhookMessageAck,
    "message.ack.group": m.WAHAWebhookMessageAckGroup,
    "message.edited": m.WAHAWebhookMessageEdited,
    "message.revoked": m.WAHAWebhookMessageRevoked,
    "chat.archive": m.WAHAWebhookChatArchive,
    "group.v2.join": m.WebhookGroupV2Join,
    "group.v2.leave": m.WebhookGroupV2Leave,
    "group.v2.update": m.WebhookGroupV2Update,
    "group.v2.participants": m.WebhookGroupV2Participants,
    "presence.update": m.WAHAWebhookPresenceUpdate,
    "poll.vote": m.WAHAWebhookPollVote,
    "poll.vote.failed": m.WAHAWebhookPollVoteFailed,
    "label.upsert": m.WAHAWebhookLabelUpsert,
    "label.deleted": m.WAHAWebhookLabelDeleted,
    "label.chat.added": m.WAHAWebhookLabelChatAdded,
    "label.chat.deleted": m.WAHAWebhookLabelChatDeleted,
    "call.received": m.WAHAWebhookCallReceived,
    "call.accepted": m.WAHAWebhookCallAccepted,
    "call.rejected": m.WAHAWebhookCallRejected,
    "engine.event": m.WAHAWebhookEngineEvent,
    "state.change": m.WAHAWebhookStateChange,
    "group.join": m.WAHAWebhookGroupJoin,
    "group.leave": m.WAHAWebhookGroupLeave,
}


class MeInfo(m.MeInfo):
    # waha-py requires ``pushName``; WAHA leaves the key out when the engine does not know the
    # name (NOWEB's ``creds.me.name`` is often undefined, and JSON.stringify drops it).
    pushName: str | None = None

    @pydantic.field_validator("pushName")
    @classmethod
    def _never_null(cls, value: Any) -> Any:
        assert value is not None, "me.pushName is a string or absent, never null"
        return value


class EnginePayload(m.EnginePayload):
    # waha-py types the raw data as an object; WAHA forwards the native listener's argument(s)
    # as they are: a string (WEBJS ``qr``, ``change_state``), an array (``message_ack``),
    # nothing (``ready``: the key is absent).
    data: Any = None


class WALocation(m.WALocation):
    # waha-py: strings. WAHA copies the engine's values: whatsapp-web.js's numbers on WEBJS.
    latitude: float | str
    longitude: float | str


class ReplyToMessage(m.ReplyToMessage):
    # WAHA leaves ``hasMedia`` out of a quoted message (it is undefined there).
    hasMedia: bool | None = None


# In the message bodies below, WAHA's JSON leaves out what the engine left undefined: ``to``
# and ``participant`` in direct chats (NOWEB), ``participant`` outside groups (WEBJS), and the
# deprecated ``mediaUrl``, which WAHA no longer writes; waha-py requires them all. WAHA writes
# ``body: null`` for a message without text (a revoke, a media message without caption), where
# waha-py wants a string.
class WAMessage(m.WAMessage):
    to: str | None = None
    participant: str | None = None
    mediaUrl: str | None = None
    body: str | None
    location: WALocation | None = None
    replyTo: ReplyToMessage | None = None


class WAMessageEditedBody(m.WAMessageEditedBody):
    to: str | None = None
    participant: str | None = None
    mediaUrl: str | None = None
    body: str | None
    location: WALocation | None = None
    replyTo: ReplyToMessage | None = None


class WAMessageAckBody(m.WAMessageAckBody):
    to: str | None = None
    participant: str | None = None


class WAMessageReaction(m.WAMessageReaction):
    to: str | None = None
    participant: str | None = None


class WAMessageRevokedBody(m.WAMessageRevokedBody):
    after: WAMessage | None = None
    before: WAMessage | None = None


class LabelChatAssociation(m.LabelChatAssociation):
    # WAHA writes ``label: null`` when the label is not in its store (NOWEB learns labels from
    # ``labels.edit``; an association may come first).
    label: m.Label | None


#: The corrected payload model of the events whose waha-py payload is wrong against WAHA.
PAYLOADS: dict[str, Any] = {
    "message": WAMessage, "message.any": WAMessage, "message.waiting": WAMessage,
    "message.edited": WAMessageEditedBody, "message.ack": WAMessageAckBody,
    "message.ack.group": WAMessageAckBody, "message.reaction": WAMessageReaction,
    "message.revoked": WAMessageRevokedBody, "engine.event": EnginePayload,
    "label.chat.added": LabelChatAssociation, "label.chat.deleted": LabelChatAssociation,
    # waha-py: an object. WAHA forwards the engine's state: whatsapp-web.js's WAState string on
    # WEBJS (``"CONNECTED"``), Baileys' connection update object on NOWEB.
    "state.change": dict[str, Any] | str,
}


def _corrected(name: str, model: type[pydantic.BaseModel]) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {
        # waha-py types ``event`` as an object (the generator misread the spec's constant);
        # WAHA sends the event's name.
        "event": (Literal[name], ...),
        "me": (MeInfo | None, None),
    }
    if name in PAYLOADS:
        fields["payload"] = (PAYLOADS[name], ...)
    # Everything else is waha-py's model as generated, environment included.
    return pydantic.create_model(f"Checked{model.__name__}", __base__=model, **fields)


CHECKED = {name: _corrected(name, model) for name, model in MODELS.items()}


def validate(envelope: dict[str, Any]) -> pydantic.BaseModel:
    """Validate one webhook body against the model of its event; raise on any mismatch."""
    name = envelope["event"]
    assert name in CHECKED, f"no waha-py model for event {name!r}"
    return CHECKED[name].model_validate(envelope)
