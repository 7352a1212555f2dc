"""One-time tickets for ``/ws``: a browser cannot send ``X-Api-Key`` with a WebSocket, and the
key must never be put in a URL (it would end up in histories and logs). A client holding the
key asks ``POST /api/ws/ticket`` for a ticket and connects to ``/ws?ticket=…`` within
:data:`TICKET_SECONDS`; a ticket opens one connection, once."""

from __future__ import annotations

import secrets
import time

import msgspec
from aiohttp import web

from plugins.api.errors import json_response
from plugins.api.routes import Call, Response, Route

#: How long a ticket may wait to be used.
TICKET_SECONDS = 30.0
#: Tickets not used yet, at most (the oldest are forgotten first).
MAX_TICKETS = 1000


class WsTicket(msgspec.Struct, kw_only=True):
    #: Pass it as ``/ws?ticket=…``; it opens one connection.
    ticket: str
    expires_in_seconds: float


class TicketBook:
    def __init__(self, seconds: float = TICKET_SECONDS, limit: int = MAX_TICKETS) -> None:
        self.seconds = seconds
        self.limit = limit
        self._tickets: dict[str, float] = {}

    def _forget_expired(self, now: float) -> None:
        for ticket in [t for t, expires in self._tickets.items() if expires <= now]:
            del self._tickets[ticket]
        while len(self._tickets) >= self.limit:
            del self._tickets[next(iter(self._tickets))]

    def issue(self) -> str:
        now = time.monotonic()
        self._forget_expired(now)
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = now + self.seconds
        return ticket

    def redeem(self, ticket: str) -> bool:
        """True (once) for a ticket issued less than ``seconds`` ago."""
        expires = self._tickets.pop(ticket, None)
        return expires is not None and expires > time.monotonic()


async def post_ticket(call: Call) -> web.StreamResponse:
    book: TicketBook = call.api.tickets
    return json_response(WsTicket(ticket=book.issue(), expires_in_seconds=book.seconds), status=201)


ROUTES = [
    Route("POST", "/api/ws/ticket", post_ticket, "A one-time ticket for /ws (for browsers)", "events",
          {201: Response("the ticket: connect to /ws?ticket=… within the time given", WsTicket)},
          description="Browsers cannot send X-Api-Key with a WebSocket: ask for a ticket with "
                      "the key, then open /ws?ticket=…&session=…&events=… (one connection, once)."),
]
