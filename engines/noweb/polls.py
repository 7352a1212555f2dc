"""Polls: the store of poll creations, ``poll.vote`` and ``poll.vote.failed``.

WAHA looks a poll's creation message up in its message store by id. Here the store holds the
options of every poll seen in ``messages.upsert`` during the session (bounded). So:

* ``messages.upsert`` with a ``pollUpdateMessage`` (an encrypted vote) whose poll is unknown
  gives ``poll.vote.failed`` with ``selectedOptions: []``; when the poll is known, WAHA waits
  for the decrypted vote and so do we (nothing now).
* ``messages.update`` with ``pollUpdates`` (decrypted votes, as Baileys emits them) of a known
  poll gives ``poll.vote``: each selected option hash (SHA-256 of the option name) is matched to
  the poll's options, unknown hashes read ``Unknown`` (Baileys ``getAggregateVotesInPollMessage``).
  As in WAHA, only the first update of the list is reported. The options are read from the
  unwrapped poll (Baileys reads the raw message, so there a wrapped poll's votes read Unknown).

Decrypting a vote needs the poll's ``messageSecret`` and AES-GCM: WAHA does it itself
(``issueMessageUpdateOnPoll``) and Baileys 7 no longer does, so ``poll.vote`` appears only when
the source writes the decrypted ``messages.update`` records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from typing import Any

from msgspec import UNSET

from core.engine import Emission
from engines.common.records import BadRecord
from engines.common.waha import to_cus_format
from engines.noweb.content import first_truthy, normalize_message_content
from engines.noweb.js_semantics import ensure_number, js_truthy
from engines.noweb.messages import message_id, parse_key
from engines.noweb.payloads import MessageDestination, PollVote, PollVotePayload
from engines.noweb.record_shapes import describe, get, need_list, need_object, optional_object

_POLL_KINDS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3")


def destination(key: dict[str, Any]) -> MessageDestination:
    """WAHA ``getDestination(key)`` without ``meId``: the other side of a DM is ``me``."""
    group_like = js_truthy(key.get("participant"))
    mine = js_truthy(key.get("fromMe"))
    to = key["remoteJid"] if group_like or mine else "me"
    sender = key["participant"] if group_like else ("me" if mine else key["remoteJid"])
    return MessageDestination(id=message_id(key), to=to_cus_format(to),
                              from_=to_cus_format(sender), fromMe=key.get("fromMe", UNSET))


def poll_options(message: dict[str, Any]) -> list[str] | None:
    """The option names of a poll creation message, or ``None`` if it is not a well-formed poll."""
    poll = first_truthy(normalize_message_content(message.get("message")), _POLL_KINDS)
    options = get(poll, "options")
    if not isinstance(options, list):
        return None
    names = [get(option, "optionName") for option in options]
    if not all(isinstance(n, str) or not js_truthy(n) for n in names):
        return None
    return [n if js_truthy(n) else "" for n in names]


class PollStore:
    def __init__(self, max_polls: int = 10_000) -> None:
        self.max_polls = max_polls
        self._options: OrderedDict[str, list[str]] = OrderedDict()

    def remember(self, message: dict[str, Any]) -> None:
        options = poll_options(message)
        if options is None:
            return
        self._options[message["key"]["id"]] = options
        self._options.move_to_end(message["key"]["id"])
        while len(self._options) > self.max_polls:
            self._options.popitem(last=False)

    def options(self, poll_id: str) -> list[str] | None:
        return self._options.get(poll_id)


def vote_failed_payload(message: dict[str, Any]) -> tuple[str, PollVotePayload] | None:
    """For an upserted ``pollUpdateMessage``: the poll's id and the ``poll.vote.failed`` payload
    to emit if that poll turns out to be unknown."""
    update = get(message.get("message"), "pollUpdateMessage")
    if not js_truthy(update):
        return None
    update = need_object(update, "message.pollUpdateMessage")
    poll_key = parse_key(update.get("pollCreationMessageKey"),
                         "message.pollUpdateMessage.pollCreationMessageKey")
    vote = destination(message["key"])
    payload = PollVotePayload(
        vote=PollVote(**_fields(vote), selectedOptions=[],
                      timestamp=ensure_number(message.get("messageTimestamp", UNSET),
                                              "messageTimestamp")),
        poll=destination(poll_key),
    )
    return poll_key["id"], payload


def _fields(dest: MessageDestination) -> dict[str, Any]:
    return {"id": dest.id, "to": dest.to, "from_": dest.from_, "fromMe": dest.fromMe}


def _hash(option: Any, field: str) -> bytes:
    if not isinstance(option, str):
        raise BadRecord(f"{field}: expected a base64 hash, got {describe(option)}")
    try:
        return base64.b64decode(option, validate=True)
    except (binascii.Error, ValueError):
        raise BadRecord(f"{field}: {option[:40]!r} is not base64") from None


def selected_names(options: list[str], hashes: list[bytes]) -> list[str]:
    """Baileys' aggregation for one voter: the poll's options in order, then ``Unknown`` per
    unknown hash, each as many times as it was selected."""
    names: dict[bytes, str] = {hashlib.sha256(o.encode()).digest(): o for o in options}
    counts: dict[bytes, int] = dict.fromkeys(names, 0)
    for digest in hashes:
        if digest not in names:
            names[digest] = "Unknown"
            counts[digest] = 0
        counts[digest] += 1
    return [names[digest] for digest, count in counts.items() for _ in range(count)]


def map_poll_updates(store: PollStore, key: dict[str, Any], update: dict[str, Any],
                     field: str) -> list[Emission]:
    poll_updates = update.get("pollUpdates", UNSET)
    if not js_truthy(poll_updates):
        return []
    poll_updates = need_list(poll_updates, f"{field}.pollUpdates")
    options = store.options(key["id"])
    if options is None or not poll_updates:
        return []  # WAHA: "poll creation message not found, cannot aggregate votes"
    first = need_object(poll_updates[0], f"{field}.pollUpdates[0]")
    vote_key = parse_key(first.get("pollUpdateMessageKey"),
                         f"{field}.pollUpdates[0].pollUpdateMessageKey")
    vote = optional_object(first.get("vote", UNSET), f"{field}.pollUpdates[0].vote")
    raw_hashes = get(vote, "selectedOptions")  # vote.selectedOptions || []
    raw_hashes = need_list(raw_hashes, f"{field}.pollUpdates[0].vote.selectedOptions") \
        if js_truthy(raw_hashes) else []
    hashes = [_hash(h, f"{field}.pollUpdates[0].vote.selectedOptions[{i}]")
              for i, h in enumerate(raw_hashes)]
    payload = PollVotePayload(
        vote=PollVote(**_fields(destination(vote_key)), selectedOptions=selected_names(options, hashes),
                      timestamp=ensure_number(first.get("senderTimestampMs", UNSET),
                                              f"{field}.pollUpdates[0].senderTimestampMs")),
        poll=destination(key),
    )
    return [Emission("poll.vote", payload)]
