"""Request bodies of WAHA's sending routes (msgspec Structs, also the OpenAPI schemas), as
WAHA's DTOs and the waha-py models have them: every optional field may be ``null`` (waha-py
sends unset fields as ``null``), unknown fields are refused (422 naming the path).

Where WAHA's schema is a ``oneOf`` of objects (a file by ``url`` or by ``data``; a contact as
a ``vcard`` or as its parts) one object holds the fields of both, and the handler says which
one must be given (422 naming the path).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from plugins.api.session_models import Body, SessionName

#: A chat id as WAHA takes it: ``11111111111@c.us``, ``…@g.us``, ``…@lid``, ``…@newsletter``;
#: a bare number gets ``@c.us`` (WAHA's ``ensureSuffix``).
ChatId = Annotated[str, Meta(pattern=r"^[0-9A-Za-z.:_-]{1,64}(@(c\.us|g\.us|lid|newsletter|broadcast|s\.whatsapp\.net))?$",
                             description="11111111111@c.us, …@g.us, …@lid, …@newsletter")]
#: A message id as WAHA writes it: ``{fromMe}_{chat}_{id}[_{participant}]``.
MessageId = Annotated[str, Meta(pattern=r"^(true|false)_[^_\s]+_[^_\s]+(_[^_\s]+)?$",
                                description="true_11111111111@c.us_AAAAAAAAAAAAAAAAAAAA")]
Text = Annotated[str, Meta(max_length=65_536)]


class SessionRequest(Body, kw_only=True):
    session: SessionName = "default"


class ChatRequest(SessionRequest, kw_only=True):
    chatId: ChatId


class MessageTextRequest(ChatRequest, kw_only=True):
    text: Text
    #: A pre-generated message id (NOWEB only: Baileys takes it; WEBJS makes its own).
    id: str | None = None
    mentions: list[ChatId] | None = None
    reply_to: MessageId | None = None
    linkPreview: bool | None = None
    linkPreviewHighQuality: bool | None = None


class FileBody(Body, kw_only=True):
    """WAHA's ``RemoteFile`` (``url``) or ``BinaryFile`` (``data``, base64): one of the two."""

    mimetype: str | None = None
    filename: str | None = None
    url: str | None = None
    data: str | None = None


class MessageImageRequest(ChatRequest, kw_only=True):
    file: FileBody
    caption: Text | None = None
    mentions: list[ChatId] | None = None
    reply_to: MessageId | None = None


class MessageFileRequest(MessageImageRequest, kw_only=True):
    pass


class MessageVoiceRequest(ChatRequest, kw_only=True):
    file: FileBody
    mentions: list[ChatId] | None = None
    reply_to: MessageId | None = None
    #: WAHA converts with ffmpeg when true; hookwire sends the file as it is.
    convert: bool | None = None


class MessageVideoRequest(ChatRequest, kw_only=True):
    file: FileBody
    caption: Text | None = None
    mentions: list[ChatId] | None = None
    reply_to: MessageId | None = None
    #: A round video note.
    asNote: bool | None = None
    convert: bool | None = None


class MessageLocationRequest(ChatRequest, kw_only=True):
    latitude: Annotated[float, Meta(ge=-90, le=90)]
    longitude: Annotated[float, Meta(ge=-180, le=180)]
    title: str | None = None
    id: str | None = None
    reply_to: MessageId | None = None


class ContactBody(Body, kw_only=True):
    """WAHA's ``VCardContact`` (``vcard``) or ``Contact`` (``fullName``, ``phoneNumber``...)."""

    vcard: str | None = None
    fullName: str | None = None
    organization: str | None = None
    phoneNumber: str | None = None
    whatsappId: str | None = None


class MessageContactVcardRequest(ChatRequest, kw_only=True):
    contacts: Annotated[list[ContactBody], Meta(min_length=1, max_length=256)]
    id: str | None = None
    reply_to: MessageId | None = None


class MessagePoll(Body, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=255)]
    options: Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]],
                       Meta(min_length=2, max_length=12)]
    multipleAnswers: bool | None = None


class MessagePollRequest(ChatRequest, kw_only=True):
    poll: MessagePoll
    id: str | None = None
    reply_to: MessageId | None = None


class MessageReactionRequest(SessionRequest, kw_only=True):
    messageId: MessageId
    #: An emoji; ``""`` removes the reaction.
    reaction: Annotated[str, Meta(max_length=64)]


class MessageForwardRequest(ChatRequest, kw_only=True):
    messageId: MessageId
    id: str | None = None


class SendSeenRequest(ChatRequest, kw_only=True):
    #: Deprecated by WAHA: use ``messageIds``.
    messageId: MessageId | None = None
    messageIds: list[MessageId] | None = None
    #: NOWEB: who sent the messages, in a group.
    participant: ChatId | None = None


class EditMessageRequest(Body, kw_only=True):
    text: Text
    mentions: list[ChatId] | None = None
    linkPreview: bool | None = None
    linkPreviewHighQuality: bool | None = None


Presence = Literal["online", "offline", "typing", "recording", "paused"]


class SessionPresenceRequest(Body, kw_only=True):
    """WAHA's ``WAHASessionPresence``: ``chatId`` for typing/recording/paused, none for
    online/offline."""

    presence: Presence
    chatId: ChatId | None = None


class TypingResult(msgspec.Struct, kw_only=True):
    result: bool = True


class ForwardResult(Body, kw_only=True):
    #: WEBJS (whatsapp-web.js ``Message.forward`` gives nothing back): whether it was sent.
    sent: bool


class InboundReaction(Body, kw_only=True):
    messageId: MessageId
    #: ``""`` removes it.
    text: Annotated[str, Meta(max_length=64)] = ""


class InboundMedia(Body, kw_only=True):
    mimetype: Annotated[str, Meta(pattern=r"^[\w.+-]+/[\w.+-]+$")]
    filename: str | None = None


class InboundMessage(Body, kw_only=True):
    """``POST /api/sandbox/{session}/inbound``: a message someone sends to the session."""

    #: The chat it comes from (a contact, or a group: then ``participant`` is the sender).
    from_: ChatId = msgspec.field(name="from")
    text: Text | None = None
    participant: ChatId | None = None
    pushName: Annotated[str, Meta(max_length=128)] | None = None
    #: A message id (WAHA's format) this one replies to.
    reply_to: MessageId | None = None
    #: The message is a file (its metadata; the sandbox sends no bytes).
    media: InboundMedia | None = None
    #: The message is a reaction to ``messageId``.
    reaction: InboundReaction | None = None
    #: The message's own id (the engine's part, e.g. ``AAAAAAAAAAAAAAAAAAAA``); made up if unset.
    id: Annotated[str, Meta(pattern=r"^[0-9A-Za-z]{8,64}$")] | None = None


class InboundResult(Body, kw_only=True):
    #: The injected message's id, as its webhooks carry it.
    id: str
