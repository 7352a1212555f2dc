"""Deliveries and endpoints, read from and changed in the delivery store (the same operations
as the ``deliveries`` and ``endpoints`` commands; the running dispatcher notices re-sends and
re-enabled endpoints within a second). URLs are shown without credentials."""

from __future__ import annotations

import msgspec
from aiohttp import web

from plugins.api.errors import ApiError, json_response
from plugins.api.models import (
    Attempt,
    Delivery,
    DeliveryDetail,
    DeliveryQuery,
    Enabled,
    EnableRequest,
    Endpoint,
    Retried,
    RetryRequest,
)
from plugins.api.routes import Call, Response, Route
from plugins.webhook.http import redact_url
from plugins.webhook.store import DeliveryFilter, DeliveryRow


def _delivery(row: DeliveryRow) -> Delivery:
    fields = msgspec.structs.asdict(row)
    fields["url"], fields["endpoint"] = redact_url(row.url), redact_url(row.endpoint)
    return Delivery(**fields)


async def list_deliveries(call: Call) -> web.StreamResponse:
    query: DeliveryQuery = call.query
    rows = await call.api.delivery_store.list_deliveries(DeliveryFilter(
        status=query.status, session=query.session, event=query.event, endpoint=query.endpoint,
        since=query.since, limit=query.limit))
    return json_response([_delivery(row) for row in rows])


async def get_delivery(call: Call) -> web.StreamResponse:
    delivery_id = call.path("id")
    found = await call.api.delivery_store.get_delivery(delivery_id)
    if found is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id!r}")
    row, attempts = found
    detail = DeliveryDetail(**msgspec.structs.asdict(_delivery(row)),
                            attempt_log=[Attempt(**msgspec.structs.asdict(a)) for a in attempts])
    return json_response(detail)


async def retry_one(call: Call) -> web.StreamResponse:
    delivery_id = call.path("id")
    store = call.api.delivery_store
    if await store.get_delivery(delivery_id) is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id!r}")
    queued = await store.retry([delivery_id], None)
    if not queued:
        raise ApiError(409, "not_final", f"delivery {delivery_id!r} is not dead or delivered: "
                       "it is already being delivered")
    return json_response(Retried(queued=queued))


async def retry_many(call: Call) -> web.StreamResponse:
    body: RetryRequest = call.body
    store = call.api.delivery_store
    if body.ids is not None:
        if any(v is not None for v in (body.status, body.session, body.event, body.endpoint, body.since)):
            raise ApiError(422, "invalid_body", "give either `ids` or filters, not both", "$.ids")
        return json_response(Retried(queued=await store.retry(list(body.ids), None)))
    if body.status != "dead":
        raise ApiError(422, "invalid_body", "give delivery `ids`, or `status: \"dead\"` with "
                       "optional filters", "$.status")
    queued = await store.retry(None, DeliveryFilter(status="dead", session=body.session,
                                                    event=body.event, endpoint=body.endpoint,
                                                    since=body.since))
    return json_response(Retried(queued=queued))


async def list_endpoints(call: Call) -> web.StreamResponse:
    rows = await call.api.delivery_store.endpoints()
    endpoints = []
    for row in rows:
        fields = msgspec.structs.asdict(row)
        fields["url"], fields["endpoint"] = redact_url(row.url), redact_url(row.endpoint)
        endpoints.append(Endpoint(**fields))
    return json_response(endpoints)


async def enable_endpoint(call: Call) -> web.StreamResponse:
    body: EnableRequest = call.body
    queued = await call.api.delivery_store.enable_endpoint(body.endpoint)
    if queued < 0:
        raise ApiError(404, "not_found", f"no endpoint {body.endpoint!r}")
    return json_response(Enabled(endpoint=redact_url(body.endpoint), queued=queued))


ROUTES = [
    Route("GET", "/api/deliveries", list_deliveries, "List deliveries, oldest first", "deliveries",
          {200: Response("the deliveries", list[Delivery])}, query=DeliveryQuery),
    Route("GET", "/api/deliveries/{id}", get_delivery, "A delivery with every attempt",
          "deliveries", {200: Response("the delivery", DeliveryDetail)}, errors=(404,)),
    Route("POST", "/api/deliveries/{id}/retry", retry_one, "Re-send one delivery", "deliveries",
          {200: Response("queued", Retried)}, errors=(404, 409)),
    Route("POST", "/api/deliveries/retry", retry_many, "Re-send deliveries by id, or every dead one",
          "deliveries", {200: Response("how many were queued", Retried)}, body=RetryRequest),
    Route("GET", "/api/endpoints", list_endpoints, "Endpoints with their health", "deliveries",
          {200: Response("the endpoints", list[Endpoint])}),
    Route("POST", "/api/endpoints/enable", enable_endpoint, "Re-enable a disabled or paused endpoint",
          "deliveries", {200: Response("enabled; held deliveries queued", Enabled)},
          body=EnableRequest, errors=(404,)),
]
