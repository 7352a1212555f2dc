"""``GET /metrics``: every metric of the process, in the Prometheus text format, from
``prometheus_client`` (:func:`core.metrics.exposition`).

Each plugin defines and observes its own metrics (the kernel, the engines, the webhook plugin);
this route only exposes them. The API's own are its WebSocket clients (:class:`ApiMetrics`).
Prometheus sends its credentials as ``Authorization: Bearer <key>``: this route takes the key
that way as well as in ``X-Api-Key`` (or list it in ``WHATSAPP_API_KEY_EXCLUDE_PATH``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from core.metrics import CONTENT_TYPE, exposition
from plugins.api.routes import Call, Response, Route

if TYPE_CHECKING:
    from plugins.api.sink import ApiSink


class ApiMetrics:
    """:class:`core.metrics.ScrapeCollector` of the API's WebSocket clients."""

    def __init__(self, api: ApiSink) -> None:
        self.api = api

    async def refresh(self) -> None:
        pass

    def collect(self) -> Iterator[Metric]:
        hub = self.api.hub
        yield GaugeMetricFamily("hookwire_websocket_clients", "WebSocket clients connected (/ws).",
                                value=len(hub.clients))
        yield CounterMetricFamily("hookwire_websocket_slow_disconnects",
                                  "WebSocket clients disconnected for falling too far behind.",
                                  value=hub.disconnected_slow)


async def metrics(call: Call) -> web.StreamResponse:
    body = await exposition(call.api.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


ROUTES = [
    Route("GET", "/metrics", metrics, "Metrics in the Prometheus text format", "operations",
          {200: Response("the metrics", media="text/plain", schema={"type": "string"})},
          description="Also takes the key as `Authorization: Bearer <key>` (how Prometheus "
                      "sends credentials)."),
]
