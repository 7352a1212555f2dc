"""``vote_update(vote)`` → ``poll.vote`` (WAHA's WEBJS ``toPollVotePayload``).

``poll`` is the destination of the poll message (``parentMessage.id._serialized``); ``vote``
the destination of the voter's vote in the same chat, ``fromMe`` when the voter is me, with
the names of the selected options and ``interractedAtTs`` (sic, whatsapp-web.js's spelling)
as ``timestamp``.

WAHA returns nothing, logging at most a warning, for a vote without a parsable poll id or
without a voter; a vote is useless without both, so here that is bad input (§3).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from engines.common.records import BadRecord
from engines.common.waha import build_message_id, normalize_jid, parse_message_id, to_cus_format
from engines.webjs.jids import is_group, wid_string
from engines.webjs.jsvalues import (
    get,
    get_path,
    number_or_bad,
    object_or_bad,
    or_,
    truthy,
    type_name,
)
from engines.webjs.payloads import MessageDestination, PollVote, PollVotePayload


def _destination(from_me: bool, chat: str, msg_id: str, participant: str | None,
                 me_id: str | None) -> MessageDestination:
    """``getDestination``: groups go to the group from the participant; a DM of mine goes to
    the chat from me; a DM from someone else goes to me from the chat."""
    me = me_id or "me"
    if participant:
        to, from_ = chat, participant
    elif from_me:
        to, from_ = chat, me
    else:
        to, from_ = me, chat
    return MessageDestination(
        id=build_message_id(from_me, chat, msg_id, participant),
        to=to_cus_format(to), from_=to_cus_format(from_), fromMe=from_me)


def poll_vote_payload(vote: Any, me_id: str | None) -> PollVotePayload:
    vote = object_or_bad(vote, "vote_update")
    poll_id = get_path(vote, "parentMessage", "id", "_serialized")
    if poll_id is UNSET or poll_id is None or poll_id == "":
        raise BadRecord("vote_update: parentMessage.id._serialized is missing")
    from_me, chat, msg_id, participant = parse_message_id(poll_id)
    remote = wid_string(get_path(vote, "parentMessage", "id", "remote"),
                        "vote_update parentMessage.id.remote")
    chat_id = to_cus_format(or_(remote, chat))
    voter = vote.get("voter", UNSET)
    if not truthy(voter):
        raise BadRecord("vote_update: voter is missing")
    if not isinstance(voter, str):
        raise BadRecord(f"vote_update.voter: expected a JID string, got {type_name(voter)}")
    voter = normalize_jid(voter)
    options = vote.get("selectedOptions", UNSET)
    if options is UNSET or options is None:
        options = []
    if not isinstance(options, list):
        raise BadRecord(f"vote_update.selectedOptions: expected an array, got {type_name(options)}")
    names = [name for name in (get(option, "name") for option in options) if truthy(name)]
    vote_from_me = bool(me_id) and to_cus_format(me_id) == to_cus_format(voter)
    poll = _destination(from_me, chat, msg_id, participant or None, me_id)
    voted = _destination(vote_from_me, chat, msg_id, voter if is_group(chat_id) else None, me_id)
    return PollVotePayload(
        poll=poll,
        vote=PollVote(id=voted.id, to=voted.to, from_=voted.from_, fromMe=voted.fromMe,
                      selectedOptions=names,
                      timestamp=number_or_bad(vote.get("interractedAtTs", UNSET),
                                              "vote_update.interractedAtTs")),
        data=vote,
    )
