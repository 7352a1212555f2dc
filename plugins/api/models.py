"""Request and response bodies of the API, as msgspec Structs (also the OpenAPI schemas).

Request bodies forbid unknown fields. WAHA's keys are spelled as WAHA spells them
(``customHeaders``, ``delaySeconds``, ``phoneNumber``); hookwire's own session keys as the
config file spells them (``source``, ``replay``, ``me_id`` …).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

SessionName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                  description="1-64 of A-Z a-z 0-9 _ . -")]
SessionStatus = Literal["STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED"]


class Error(msgspec.Struct, kw_only=True):
    """Every error the API answers: a short code and what was wrong, in words."""

    error: str
    detail: str
    #: Where in the request body the problem is (``$.config.webhooks[0].url``), when known.
    path: str | None = None


# -- webhooks (WAHA's shape) ---------------------------------------------------------------

class HmacBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    key: str | None = None


class RetriesBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    policy: Literal["constant", "linear", "exponential"] | None = None
    delay_seconds: Annotated[float, Meta(ge=0, le=86400)] | None = None
    attempts: Annotated[int, Meta(ge=0, le=1000)] | None = None


class CustomHeader(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    value: str


class WebhookBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    url: str
    events: list[str]
    hmac: HmacBody | None = None
    retries: RetriesBody | None = None
    custom_headers: list[CustomHeader] | None = None
    #: hookwire: Standard Webhooks secrets (``whsec_…``), several for rotation.
    secrets: list[str] | None = None
    #: hookwire: the endpoint's name in the store (default: its URL).
    name: str | None = None


# -- sessions --------------------------------------------------------------------------------

class SessionConfigBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    metadata: dict[str, str] | None = None
    webhooks: list[WebhookBody] = []
    #: hookwire: ``bridge`` (the engine's live bridge) or ``replay`` (a recording in
    #: ``[api] replay_dir``).
    source: Literal["bridge", "replay"] = "bridge"
    replay: str | None = None
    pace: Literal["max", "recorded"] = "max"
    me_id: str | None = None
    me_lid: str | None = None
    me_push_name: str | None = None


class SessionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: SessionName = "default"
    #: An engine by name (default: ``[api] default_engine``).
    engine: str | None = None
    #: Start the session at once (WAHA's default).
    start: bool = True
    config: SessionConfigBody = msgspec.field(default_factory=SessionConfigBody)


class SessionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Replaces the session's config. Only a change of webhooks: applied without a restart;
    anything else restarts a running session."""

    name: SessionName | None = None
    engine: str | None = None
    config: SessionConfigBody = msgspec.field(default_factory=SessionConfigBody)


class EngineInfo(msgspec.Struct, kw_only=True):
    engine: str


class MeInfo(msgspec.Struct, kw_only=True):
    id: str
    pushName: str | None = None


class SessionInfo(msgspec.Struct, kw_only=True):
    name: str
    status: SessionStatus
    engine: EngineInfo
    me: MeInfo | None = None
    config: SessionConfigBody
    #: hookwire: ``file`` (the config file; not changeable over the API) or ``api``.
    origin: Literal["file", "api"]
    running: bool


class RequestCode(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    phoneNumber: Annotated[str, Meta(pattern=r"^\+?[0-9]{6,15}$")]
    method: str | None = None


class CodeRequested(msgspec.Struct, kw_only=True):
    session: str
    phoneNumber: str
    #: The bridge logs the code (``pairing_code``) once WhatsApp answers.
    detail: str


class QrRaw(msgspec.Struct, kw_only=True):
    value: str


class Deleted(msgspec.Struct, kw_only=True):
    name: str
    deleted: bool = True


# -- deliveries and endpoints ----------------------------------------------------------------

DeliveryStatus = Literal["pending", "in_flight", "delivered", "dead", "disabled"]


class DeliveryQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: DeliveryStatus | None = None
    session: str | None = None
    event: str | None = None
    endpoint: str | None = None
    #: Unix ms: created at or after.
    since: Annotated[int, Meta(ge=0, le=10**15)] | None = None
    limit: Annotated[int, Meta(ge=1, le=10000)] = 100


class Delivery(msgspec.Struct, kw_only=True):
    id: str
    event_id: str
    event_name: str
    session: str
    endpoint: str
    url: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int


class Attempt(msgspec.Struct, kw_only=True):
    attempt: int
    started_at: int
    duration_ms: float
    status: int | None
    error: str | None
    response_body: str | None


class DeliveryDetail(Delivery, kw_only=True):
    attempt_log: list[Attempt]


class RetryRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Re-send deliveries by id, or every dead one matching the filters (``status`` must
    then be ``dead``)."""

    ids: Annotated[list[str], Meta(max_length=10000)] | None = None
    status: Literal["dead"] | None = None
    session: str | None = None
    event: str | None = None
    endpoint: str | None = None
    since: Annotated[int, Meta(ge=0, le=10**15)] | None = None


class Retried(msgspec.Struct, kw_only=True):
    queued: int


class Endpoint(msgspec.Struct, kw_only=True):
    endpoint: str
    url: str
    state: str
    reason: str | None
    consecutive_failures: int
    last_success_at: int | None
    last_failure_at: int | None
    pending: int
    dead: int


class EnableRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The endpoint's name or URL.
    endpoint: Annotated[str, Meta(min_length=1)]


class Enabled(msgspec.Struct, kw_only=True):
    endpoint: str
    queued: int


# -- health ----------------------------------------------------------------------------------

class DeliveryHealth(msgspec.Struct, kw_only=True):
    pending: int
    in_flight: int
    dead: int
    #: Age of the oldest delivery not final yet (seconds), null when there is none.
    oldest_pending_age_seconds: float | None
    #: How long the most overdue delivery has been due without an attempt (seconds).
    max_overdue_seconds: float | None
    stuck_endpoints: list[str]
    paused_endpoints: list[str]
    disabled_endpoints: list[str]


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok", "stuck", "unknown"]
    detail: str
    delivery: DeliveryHealth | None
    sessions: dict[str, str]
