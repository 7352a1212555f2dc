"""The webhook sink: match events to webhooks, persist, then dispatch from the store.

The bus subscriber only matches filters and writes deliveries to the store, in batches, before
taking more from the bus (persist before acknowledge). Dispatch runs from the store, one
:class:`EndpointWorker` per endpoint, so a dead receiver, a restart or a crash loses nothing and
engines are never held back by a slow URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anyio
from anyio.abc import TaskStatus
from aiohttp import web

from core.bus import Subscription
from core.config import Config
from core.events import Envelope, encoder
from core.logging import get_logger
from core.ulid import new_ulid
from plugins.webhook.config import DeliveryConfig, RetryConfig, WebhookConfig
from plugins.webhook.dispatcher import AttemptRecorder, EndpointWorker
from plugins.webhook.http import redact_url
from plugins.webhook.matching import chat_of, wants
from plugins.webhook.receiver import ReceiverOptions, start_receiver
from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms
from plugins.webhook.store import DeliveryStore, NewDelivery, StoredEvent

log = get_logger("plugins.webhook")

DEMO_ENDPOINT = "demo-receiver"
PRUNE_EVERY_SECONDS = 600.0


def store_path(config: Config, delivery: DeliveryConfig) -> Path:
    if delivery.store_path:
        return config.resolve_path(delivery.store_path)
    return config.data_dir / "deliveries.sqlite3"


def open_store(config: Config) -> DeliveryStore:
    return SQLiteDeliveryStore(store_path(config, config.section("delivery")))


class WebhookSink:
    name = "webhook"
    overflow = "block"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.delivery: DeliveryConfig = config.section("delivery")
        self.hooks: list[WebhookConfig] = list(config.section("webhooks"))
        self.demo = not self.hooks and self.delivery.demo_receiver
        events: set[str] = {"*"} if self.demo else set()
        for hook in self.hooks:
            events.update(hook.events)
        self.events = frozenset(events)
        self.store = open_store(config)
        self.workers: dict[str, EndpointWorker] = {}
        self.recorder: AttemptRecorder | None = None
        self.stopping = anyio.Event()
        self.ingested_events = 0
        self.ingested_deliveries = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        self.stopping.set()
        for worker in self.workers.values():
            worker.stop()

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        await self.store.open()
        receiver: web.AppRunner | None = None
        try:
            recovered = await self.store.recover()
            if recovered:
                log.info("resuming deliveries interrupted by a stop or crash", deliveries=recovered)
            if self.demo:
                receiver, port = await start_receiver(ReceiverOptions(verbose=False))
                self.hooks = [WebhookConfig(url=f"http://127.0.0.1:{port}/webhook", events=["*"],
                                            name=DEMO_ENDPOINT,
                                            retries=RetryConfig(delay_seconds=0.5, attempts=3))]
                log.info("no webhook configured: delivering to the built-in demo receiver",
                         url=self.hooks[0].url)
            elif not self.hooks:
                log.warning("no webhook configured: events are not delivered "
                            "(set WHATSAPP_HOOK_URL and WHATSAPP_HOOK_EVENTS, or [[webhooks]])")
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
            async with aiohttp.ClientSession(connector=connector) as http:
                await self._serve(subscription, http, task_status)
        finally:
            with anyio.CancelScope(shield=True):
                if receiver is not None:
                    await receiver.cleanup()
                await self.store.close()

    async def _serve(self, subscription: Subscription, http: aiohttp.ClientSession,
                     task_status: TaskStatus[None]) -> None:
        self.recorder = recorder = AttemptRecorder(self.store)
        known = {row.endpoint: row for row in await self.store.endpoints()}
        configured = {hook.key for hook in self.hooks}
        for row in known.values():
            if row.endpoint not in configured and row.pending:
                log.warning("deliveries kept for an endpoint that is no longer configured",
                            endpoint=redact_url(row.endpoint), url=redact_url(row.url),
                            deliveries=row.pending)
        for hook in self.hooks:
            row = known.get(hook.key)
            state, failures = (row.state, row.consecutive_failures) if row else ("active", 0)
            await self.store.set_endpoint(hook.key, hook.url, state,  # type: ignore[arg-type]
                                          row.reason if row else None, failures, None, None)
            self.workers[hook.key] = EndpointWorker(hook, self.store, http, recorder, state, failures)
            log.info("webhook endpoint", endpoint=redact_url(hook.key), url=redact_url(hook.url),
                     events=",".join(hook.events), state=state)
        async with anyio.create_task_group() as dispatch_tg:
            dispatch_tg.start_soon(recorder.run)
            dispatch_tg.start_soon(self._prune_forever)
            async with anyio.create_task_group() as workers_tg:
                for worker in self.workers.values():
                    workers_tg.start_soon(worker.run)
                task_status.started()
                await self._ingest(subscription)
                await self._until_finished()
                for worker in self.workers.values():
                    worker.stop()
            dispatch_tg.cancel_scope.cancel()  # the recorder flushes on the way out

    # -- intake --------------------------------------------------------------------------------

    async def _ingest(self, subscription: Subscription) -> None:
        stream = subscription.receive_stream
        batch_size = self.delivery.batch_size
        while True:
            try:
                first = await stream.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
            batch = [first]
            while len(batch) < batch_size:
                try:
                    batch.append(stream.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
            await self._persist(batch)

    async def _persist(self, batch: list[Envelope]) -> None:
        events: list[StoredEvent] = []
        deliveries: list[NewDelivery] = []
        touched: set[str] = set()
        stamp = now_ms()
        for event in batch:
            hooks = [hook for hook in self.hooks if wants(hook, event)]
            if not hooks:
                continue
            events.append(StoredEvent(event.id, event.name, event.session, event.timestamp,
                                      encoder.encode(event)))
            # The FIFO lane of ``ordering = "chat"``: per session, as two accounts share chats.
            chat = f"{event.session}/{chat_of(event)}"
            for hook in hooks:
                worker = self.workers[hook.key]
                deliveries.append(NewDelivery(
                    id="dlv_" + new_ulid(), event_id=event.id, endpoint=hook.key, url=hook.url,
                    chat=chat, next_attempt_at=stamp,
                    status="disabled" if worker.state == "disabled" else "pending"))
                touched.add(hook.key)
        if not deliveries:
            return
        delay = 0.1
        while True:  # the batch is only in memory: keep it until the store takes it
            try:
                await self.store.add(events, deliveries)
                break
            except Exception as exc:
                log.error("cannot write deliveries to the store, retrying", error=f"{type(exc).__name__}: {exc}",
                          events=len(events), retry_in_s=delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.ingested_events += len(events)
        self.ingested_deliveries += len(deliveries)
        for key in touched:
            self.workers[key].notify()

    async def _until_finished(self) -> None:
        """After intake ends: wait until every delivery is final, or until shutdown begins."""
        while not self.stopping.is_set():
            if self.recorder is not None:
                await self.recorder.flush()
            if await self.store.unfinished(list(self.workers)) == 0:
                return
            with anyio.move_on_after(0.2):
                await self.stopping.wait()

    async def _prune_forever(self) -> None:
        while True:
            cutoff = now_ms() - int(self.delivery.retention_hours * 3_600_000)
            pruned = await self.store.prune(cutoff)
            if pruned:
                log.info("delivered rows pruned", deliveries=pruned,
                         retention_hours=self.delivery.retention_hours)
            await anyio.sleep(PRUNE_EVERY_SECONDS)

    def summary(self) -> dict[str, Any]:
        outcomes = dict(self.recorder.outcomes) if self.recorder else {}
        return {
            "events": self.ingested_events,
            "deliveries": self.ingested_deliveries,
            "delivered": outcomes.get("delivered", 0),
            "dead": outcomes.get("dead", 0),
            "disabled": outcomes.get("disabled", 0),
            "retried_attempts": outcomes.get("pending", 0),
        }
