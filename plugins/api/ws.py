"""``GET /ws?session=*&events=*``: envelopes streamed over WebSocket, as WAHA does.

Each client has a bounded queue fed by the API sink without waiting; a writer task sends from
it. A client that falls ``ws_buffer`` envelopes behind is disconnected (close code 1013, "try
again later"), so a slow reader never slows the bus. ``session`` and ``events`` may be
repeated or comma-separated; ``*`` means all (for events: all but ``engine.event``, which must
be named).
"""

from __future__ import annotations

from collections import deque

import anyio
from aiohttp import WSCloseCode, web

from core.bus import matches
from core.events import Envelope, encoder
from core.logging import get_logger

log = get_logger("plugins.api")


def _values(request: web.Request, key: str) -> frozenset[str]:
    found = {v.strip() for raw in request.query.getall(key, []) for v in raw.split(",") if v.strip()}
    return frozenset(found or {"*"})


class WsClient:
    def __init__(self, ws: web.WebSocketResponse, sessions: frozenset[str], events: frozenset[str],
                 limit: int, peer: str) -> None:
        self.ws = ws
        self.sessions = sessions
        self.events = events
        self.limit = limit
        self.peer = peer
        self.queue: deque[bytes] = deque()
        self.wake = anyio.Event()
        self.too_slow = False
        self.sent = 0
        #: The writer's scope: cancelled when the client is too slow (its send may be blocked).
        self.writer_scope = anyio.CancelScope()

    def wants(self, event: Envelope) -> bool:
        if "*" not in self.sessions and event.session not in self.sessions:
            return False
        return matches(self.events, event.name)

    def offer(self, body: bytes) -> bool:
        """Queue ``body``; False (and the client is marked too slow) when its queue is full."""
        if self.too_slow:
            return False
        if len(self.queue) >= self.limit:
            self.too_slow = True
            self.queue.clear()
            self.writer_scope.cancel()
            return False
        self.queue.append(body)
        self.wake.set()
        return True


class WsHub:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.clients: set[WsClient] = set()
        self.disconnected_slow = 0

    def publish(self, event: Envelope) -> None:
        if not self.clients:
            return
        body: bytes | None = None
        for client in list(self.clients):
            if not client.wants(event):
                continue
            if body is None:
                body = encoder.encode(event)
            if not client.offer(body):
                self.clients.discard(client)
                self.disconnected_slow += 1

    async def close_all(self) -> None:
        for client in list(self.clients):
            client.wake.set()
            with anyio.move_on_after(1):
                await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
        self.clients.clear()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        client = WsClient(ws, _values(request, "session"), _values(request, "events"), self.limit,
                          request.remote or "?")
        self.clients.add(client)
        log.info("websocket client connected", peer=client.peer, sessions=",".join(sorted(client.sessions)),
                 events=",".join(sorted(client.events)))
        try:
            async with anyio.create_task_group() as tg:
                async def read_until_closed() -> None:
                    async for _ in ws:  # clients send nothing we need; this notices a close
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(read_until_closed)
                with client.writer_scope:
                    await self._write(client)
                tg.cancel_scope.cancel()
        finally:
            self.clients.discard(client)
            with anyio.CancelScope(shield=True):
                if client.too_slow:
                    log.warning("websocket client too slow, disconnected", peer=client.peer,
                                buffer=self.limit, sent=client.sent)
                closed = False
                with anyio.move_on_after(1):
                    if client.too_slow:
                        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                    else:
                        await ws.close()
                    closed = True
                if not closed and request.transport is not None:
                    request.transport.abort()  # its buffers are full: the close frame cannot go
            log.info("websocket client gone", peer=client.peer, sent=client.sent)
        return ws

    async def _write(self, client: WsClient) -> None:
        ws = client.ws
        while not ws.closed:
            if not client.queue:
                client.wake = anyio.Event()
                await client.wake.wait()
                continue
            body = client.queue.popleft()
            try:
                await ws.send_str(body.decode())
            except (ConnectionError, RuntimeError):
                return
            client.sent += 1
