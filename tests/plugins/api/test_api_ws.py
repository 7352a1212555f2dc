"""``GET /ws``: envelopes streamed over WebSocket with session and event filters; a client too
slow to read is disconnected and never holds the bus (or anyone else) back."""

from __future__ import annotations

import json
import socket

import anyio
from api_service import build, msg, record, serving
from metrics_scrape import Scrape
from webhook_receiver import Receiver
from webhook_service import watch_logs


async def _collect(ws, into: list[dict], count: int) -> None:
    async for message in ws:
        into.append(json.loads(message.data))
        if len(into) >= count:
            return


async def test_clients_get_the_envelopes_their_filters_select(tmp_path):
    service = build(tmp_path)
    lines = [record("session.status", {"name": "x", "status": "WORKING"}), msg(1), msg(2),
             record("engine.event", {"event": "ready", "data": None}), msg(3)]
    rec = service.recording("r.jsonl", lines)
    with watch_logs() as logs:
        async with serving(service) as api:
            base = f"ws://127.0.0.1:{service.api.port}/ws"
            async with api.http.ws_connect(f"{base}?session=one&events=message") as only_one, \
                    api.http.ws_connect(f"{base}?events=session.status,message") as both, \
                    api.http.ws_connect(f"{base}?session=*&events=engine.event") as debug, \
                    api.http.ws_connect(base) as everything:
                await logs.wait_for("websocket client connected", count=4)
                for name in ("one", "two"):
                    code, _ = await api.post("/api/sessions", {"name": name, "engine": "SCRIPTED",
                                                               "config": {"source": "replay",
                                                                          "replay": rec}})
                    assert code == 201
                got: dict[str, list[dict]] = {"one": [], "both": [], "debug": [], "all": []}
                with anyio.fail_after(10):
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(_collect, only_one, got["one"], 3)
                        tg.start_soon(_collect, both, got["both"], 8)
                        tg.start_soon(_collect, debug, got["debug"], 2)
                        tg.start_soon(_collect, everything, got["all"], 8)
    assert [(e["session"], e["event"], e["payload"]["seq"]) for e in got["one"]] == [
        ("one", "message", 1), ("one", "message", 2), ("one", "message", 3)]
    assert sorted((e["session"], e["event"]) for e in got["both"]) == sorted(
        [(s, "session.status") for s in ("one", "two")] + [(s, "message") for s in ("one", "two")] * 3)
    assert [(e["event"], e["payload"]["event"]) for e in got["debug"]] == [("engine.event", "ready")] * 2
    assert "engine.event" not in {e["event"] for e in got["all"]}  # `*` leaves it out
    first = got["one"][0]
    assert set(first) == {"id", "timestamp", "event", "session", "me", "payload", "engine",
                          "environment"}  # the webhook body (no metadata set), as WAHA streams it


def _raw_ws_client(port: int) -> socket.socket:
    """A WebSocket client that never reads: tiny receive buffer, handshake by hand."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /ws?events=message HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                 .encode())
    sock.setblocking(False)
    return sock


async def _read_until_closed(sock: socket.socket) -> bytes:
    received = bytearray()
    while True:
        await anyio.wait_readable(sock)
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk


async def test_a_slow_client_is_disconnected_and_never_slows_the_bus(tmp_path):
    count = 200
    async with Receiver() as rx:
        service = build(tmp_path, api={"ws_buffer": 4})
        big = "x" * 32_768
        rec = service.recording("big.jsonl", [
            {"type": "message", "data": {"id": f"false_1@c.us_M{n:05d}", "seq": n, "body": big}}
            for n in range(count)])
        with watch_logs() as logs:
            async with serving(service) as api:
                slow = _raw_ws_client(service.api.port)
                try:
                    fast_got: list[dict] = []
                    async with api.http.ws_connect(f"ws://127.0.0.1:{service.api.port}/ws?events=message",
                                                   max_msg_size=0) as fast:
                        await logs.wait_for("websocket client connected", count=2)
                        code, _ = await api.post("/api/sessions", {
                            "name": "big", "engine": "SCRIPTED",
                            "config": {"source": "replay", "replay": rec,
                                       "webhooks": [{"url": rx.url("/all"), "events": ["message"]}]}})
                        assert code == 201
                        with anyio.fail_after(20):
                            await _collect(fast, fast_got, count)
                            await rx.wait_delivered(count, "/all", timeout=20)
                            [dropped] = await logs.wait_for("websocket client too slow, disconnected")
                            leftover = await _read_until_closed(slow)
                        code, metrics = await api.get("/metrics")
                finally:
                    slow.close()
    assert [e["payload"]["seq"] for e in fast_got] == list(range(count))
    assert dropped["buffer"] == 4 and dropped["sent"] < count
    assert leftover.startswith(b"HTTP/1.1 101 Switching Protocols")
    assert len(leftover) < count * len(big)  # it got a part, then the connection ended
    assert Scrape(metrics.decode()).value("hookwire_websocket_slow_disconnects_total") == 1
    assert len(service.api.hub.clients) == 0
