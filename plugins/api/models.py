"""Request and response bodies of the API's own routes (deliveries, endpoints), as msgspec
Structs (also the OpenAPI schemas). The records the delivery service answers with are in
``core.delivery``; WAHA's session, auth and server bodies in :mod:`plugins.api.session_models`.

Request bodies forbid unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from core.delivery import DeliveryOrder, DeliveryStatus

UnixMs = Annotated[int, Meta(ge=0, le=10**15)]


class Error(msgspec.Struct, kw_only=True):
    """Every error the API answers: a short code and what was wrong, in words."""

    error: str
    detail: str
    #: Where in the request body the problem is (``$.config.webhooks[0].url``), when known.
    path: str | None = None


class DeliveryQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: DeliveryStatus | None = None
    session: str | None = None
    event: str | None = None
    #: An endpoint's name or URL.
    endpoint: str | None = None
    #: Unix ms: created at or after.
    since: UnixMs | None = None
    #: Unix ms: created at or before.
    until: UnixMs | None = None
    limit: Annotated[int, Meta(ge=1, le=10000)] = 100
    #: ``oldest`` first (default) or ``newest`` first.
    order: DeliveryOrder = "oldest"
    #: The ``X-Next-Cursor`` of the previous page (same filters and order): the next page.
    cursor: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class RetryRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Re-send deliveries by id, or every dead one matching the filters (``status`` must
    then be ``dead``)."""

    ids: Annotated[list[str], Meta(max_length=10000)] | None = None
    status: Literal["dead"] | None = None
    session: str | None = None
    event: str | None = None
    endpoint: str | None = None
    since: UnixMs | None = None
    until: UnixMs | None = None


class Retried(msgspec.Struct, kw_only=True):
    queued: int


class EnableRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The endpoint's name or URL.
    endpoint: Annotated[str, Meta(min_length=1)]
