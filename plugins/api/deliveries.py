"""Deliveries and endpoints, through the delivery service (``core.delivery``): the same
operations as the ``deliveries`` and ``endpoints`` commands; the running dispatcher notices
re-sends and re-enabled endpoints within a second. URLs are shown without credentials. 503
when no plugin delivers."""

from __future__ import annotations

from aiohttp import web

from core.delivery import CursorError, DeliveryDetail, DeliveryRecord, EndpointEnabled, EndpointRecord
from core.delivery import DeliveryQuery as ServiceQuery
from plugins.api.errors import ApiError, json_response
from plugins.api.models import DeliveryQuery, EnableRequest, Retried, RetryRequest
from plugins.api.routes import Call, Response, Route

#: The header that carries the cursor of the next page.
NEXT_CURSOR = "X-Next-Cursor"


async def list_deliveries(call: Call) -> web.StreamResponse:
    query: DeliveryQuery = call.query
    try:
        page = await call.api.delivery.page_deliveries(ServiceQuery(
            status=query.status, session=query.session, event=query.event, endpoint=query.endpoint,
            since=query.since, until=query.until, limit=query.limit, order=query.order,
            cursor=query.cursor))
    except CursorError as exc:
        raise ApiError(422, "invalid_query", f"{exc} (at query.cursor)", "query.cursor") from None
    response = json_response(page.deliveries)
    if page.next_cursor is not None:
        response.headers[NEXT_CURSOR] = page.next_cursor
    return response


async def get_delivery(call: Call) -> web.StreamResponse:
    delivery_id = call.path("id")
    found = await call.api.delivery.get_delivery(delivery_id)
    if found is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id!r}")
    return json_response(found)


async def retry_one(call: Call) -> web.StreamResponse:
    delivery_id = call.path("id")
    service = call.api.delivery
    if await service.get_delivery(delivery_id) is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id!r}")
    queued = await service.retry([delivery_id], None)
    if not queued:
        raise ApiError(409, "not_final", f"delivery {delivery_id!r} is not dead or delivered: "
                       "it is already being delivered")
    return json_response(Retried(queued=queued))


async def retry_many(call: Call) -> web.StreamResponse:
    body: RetryRequest = call.body
    service = call.api.delivery
    if body.ids is not None:
        if any(v is not None for v in (body.status, body.session, body.event, body.endpoint,
                                       body.since, body.until)):
            raise ApiError(422, "invalid_body", "give either `ids` or filters, not both", "$.ids")
        return json_response(Retried(queued=await service.retry(list(body.ids), None)))
    if body.status != "dead":
        raise ApiError(422, "invalid_body", "give delivery `ids`, or `status: \"dead\"` with "
                       "optional filters", "$.status")
    queued = await service.retry(None, ServiceQuery(status="dead", session=body.session,
                                                    event=body.event, endpoint=body.endpoint,
                                                    since=body.since, until=body.until))
    return json_response(Retried(queued=queued))


async def list_endpoints(call: Call) -> web.StreamResponse:
    return json_response(await call.api.delivery.endpoints())


async def enable_endpoint(call: Call) -> web.StreamResponse:
    body: EnableRequest = call.body
    enabled = await call.api.delivery.enable_endpoint(body.endpoint)
    if enabled is None:
        raise ApiError(404, "not_found", f"no endpoint {body.endpoint!r}")
    return json_response(enabled)


ROUTES = [
    Route("GET", "/api/deliveries", list_deliveries, "List deliveries (filtered, a page at a time)",
          "deliveries", {200: Response("the deliveries; `X-Next-Cursor` when there may be more",
                                       list[DeliveryRecord], headers={NEXT_CURSOR: (
                                           "pass it as `cursor` (same filters and order) for the "
                                           "next page; absent on the last page")})},
          query=DeliveryQuery, errors=(503,),
          description="Keyset paging: each page costs what the first does, however many "
                      "deliveries are stored. `order=newest` lists the latest first."),
    Route("GET", "/api/deliveries/{id}", get_delivery, "A delivery with every attempt",
          "deliveries", {200: Response("the delivery", DeliveryDetail)}, errors=(404, 503)),
    Route("POST", "/api/deliveries/{id}/retry", retry_one, "Re-send one delivery", "deliveries",
          {200: Response("queued", Retried)}, errors=(404, 409, 503)),
    Route("POST", "/api/deliveries/retry", retry_many, "Re-send deliveries by id, or every dead one",
          "deliveries", {200: Response("how many were queued", Retried)}, body=RetryRequest,
          errors=(503,)),
    Route("GET", "/api/endpoints", list_endpoints, "Endpoints with their health", "deliveries",
          {200: Response("the endpoints", list[EndpointRecord])}, errors=(503,)),
    Route("POST", "/api/endpoints/enable", enable_endpoint, "Re-enable a disabled or paused endpoint",
          "deliveries", {200: Response("enabled; held deliveries queued", EndpointEnabled)},
          body=EnableRequest, errors=(404, 503)),
]
