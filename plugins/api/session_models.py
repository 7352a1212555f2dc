"""Session, auth and server bodies, as WAHA has them (msgspec Structs, also the OpenAPI schemas).

WAHA's ``SessionConfig`` is accepted whole. Every optional field may be ``null``, which means
"not set" (WAHA clients generated from its OpenAPI document send every field, unset ones as
``null``); answers leave unset fields out. Fields outside WAHA's schema and hookwire's own are
refused (422 naming the path). hookwire's own session keys are spelled as in the config file
(``source``, ``replay``, ``me_id`` …); what hookwire cannot apply it keeps, returns, and
reports in ``warnings``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

SessionName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                  description="1-64 of A-Z a-z 0-9 _ . -")]
SessionStatus = Literal["STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED"]
#: The mask a secret is shown as; sent back, it means "unchanged".
MASK = "***"


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A request body part: unknown fields refused, unset (``null``) fields left out of answers."""


# -- webhooks (WAHA's WebhookConfig, plus hookwire's `secrets` and `name`) -------------------

class HmacBody(Body):
    key: str | None = None


class RetriesBody(Body, rename="camel"):
    policy: Literal["constant", "linear", "exponential"] | None = None
    delay_seconds: Annotated[float, Meta(ge=0, le=86400)] | None = None
    #: WAHA's schema types this as a number: 15.0 is accepted, 1.5 is not.
    attempts: Annotated[float, Meta(ge=0, le=1000)] | None = None


class CustomHeader(Body):
    name: str
    value: str


class WebhookBody(Body, rename="camel"):
    url: str
    events: list[str]
    hmac: HmacBody | None = None
    retries: RetriesBody | None = None
    custom_headers: list[CustomHeader] | None = None
    #: hookwire: Standard Webhooks secrets (``whsec_…``), several for rotation.
    secrets: list[str] | None = None
    #: hookwire: the endpoint's name in the store (default: its URL).
    name: str | None = None


# -- WAHA's SessionConfig --------------------------------------------------------------------

class ProxyBody(Body):
    server: str
    username: str | None = None
    password: str | None = None


class IgnoreBody(Body):
    status: bool | None = None
    groups: bool | None = None
    channels: bool | None = None
    broadcast: bool | None = None


class ClientBody(Body):
    deviceName: str | None = None
    browserName: str | None = None


class NowebStoreBody(Body):
    enabled: bool | None = None
    fullSync: bool | None = None


class NowebBody(Body):
    markOnline: bool | None = None
    store: NowebStoreBody | None = None


class WebjsBody(Body):
    tagsEventsOn: bool | None = None


class GowsStorageBody(Body):
    messages: bool | None = None
    groups: bool | None = None
    chats: bool | None = None
    labels: bool | None = None
    contacts: bool | None = None
    messageSecrets: bool | None = None


class GowsBody(Body):
    storage: GowsStorageBody | None = None


class SandboxBody(Body):
    """hookwire: how a sandbox session (``source: "sandbox"``) plays the phone."""

    server_ack_ms: Annotated[int, Meta(ge=0, le=600_000)] | None = None
    device_ack_ms: Annotated[int, Meta(ge=0, le=600_000)] | None = None
    #: ``-1``: sent messages are never read.
    read_ack_ms: Annotated[int, Meta(ge=-1, le=600_000)] | None = None
    #: A recording in ``[api] replay_dir`` played when the session starts.
    seed: str | None = None
    keep_records: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None


class SessionConfigBody(Body):
    metadata: dict[str, str] | None = None
    proxy: ProxyBody | None = None
    debug: bool | None = None
    ignore: IgnoreBody | None = None
    client: ClientBody | None = None
    noweb: NowebBody | None = None
    gows: GowsBody | None = None
    webjs: WebjsBody | None = None
    webhooks: list[WebhookBody] | None = None
    #: hookwire: ``bridge`` (the engine's live bridge, the default), ``replay`` (a recording
    #: in ``[api] replay_dir``) or ``sandbox`` (no phone: sends answered, messages injected).
    source: Literal["bridge", "replay", "sandbox"] | None = None
    sandbox: SandboxBody | None = None
    replay: str | None = None
    pace: Literal["max", "recorded"] | None = None
    me_id: str | None = None
    me_lid: str | None = None
    me_push_name: str | None = None


#: WAHA's ``apps`` (ChatWoot, calls …): kept and returned, not run by hookwire.
Apps = list[dict[str, Any]] | None


class SessionCreate(Body):
    #: Without one, a name ``session_…`` is made up (as WAHA does).
    name: SessionName | None = None
    #: hookwire: an engine by name (default: ``[api] default_engine``, ``WHATSAPP_DEFAULT_ENGINE``).
    engine: str | None = None
    #: Start the session at once (WAHA's default: true).
    start: bool | None = None
    config: SessionConfigBody | None = None
    apps: Apps = None


class SessionUpdate(Body):
    """Replaces the session's config. Only a change of webhooks: applied without a restart;
    anything else restarts a running session."""

    #: hookwire: must be the session's own name if given (a session cannot be renamed).
    name: SessionName | None = None
    engine: str | None = None
    config: SessionConfigBody | None = None
    apps: Apps = None


class SessionStartDeprecated(Body):
    name: SessionName
    config: SessionConfigBody | None = None
    #: hookwire: the engine of a session this creates.
    engine: str | None = None


class SessionStopDeprecated(Body):
    name: SessionName
    #: Also log out and delete the session.
    logout: bool | None = None


class SessionLogoutDeprecated(Body):
    name: SessionName


class SessionLogoutBody(Body):
    #: WAHA's logout options for apps (accepted; hookwire runs no apps).
    apps: dict[str, Any] | None = None


# -- answers ---------------------------------------------------------------------------------

class MeInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    #: Left out while unknown (never null).
    pushName: str | None = None
    lid: str | None = None


class Timestamps(msgspec.Struct, kw_only=True):
    #: Unix ms of the session's last record or heartbeat; null when there was none.
    activity: int | None


class EngineInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    engine: str
    #: hookwire: ``bridge`` or ``replay``.
    source: str | None = None


class SessionInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    status: SessionStatus
    config: SessionConfigBody | None
    me: MeInfo | None
    #: ``online`` / ``offline`` while the session works, else null.
    presence: Literal["online", "offline"] | None
    timestamps: Timestamps
    engine: EngineInfo
    assignedWorker: str | None = None
    apps: Apps = None
    #: hookwire: ``file`` (the config file; not changeable over the API) or ``api``.
    origin: Literal["file", "api"]
    running: bool
    #: hookwire: the last failure of the session, in words, and when (Unix ms).
    last_error: str | None
    last_error_at: int | None
    #: hookwire: bridge restarts, and restarts by the watchdog (a WORKING bridge gone silent).
    restarts: int
    stalls: int
    #: hookwire: config that is kept and returned but not applied, in words.
    warnings: list[str]


class RequestCode(Body):
    phoneNumber: Annotated[str, Meta(pattern=r"^\+?[0-9]{6,15}$")]
    #: ``sms`` / ``voice`` (phone registration, not supported); leave empty for web pairing.
    method: str | None = None


class PairingCode(msgspec.Struct, kw_only=True):
    #: Enter it on the phone under Linked devices → Link with phone number.
    code: str


class QrRaw(msgspec.Struct, kw_only=True):
    value: str


class Base64File(msgspec.Struct, kw_only=True):
    mimetype: str
    data: str


class MyProfile(msgspec.Struct, kw_only=True):
    id: str
    name: str | None
    #: hookwire knows no profile pictures: null.
    picture: str | None


# -- server ----------------------------------------------------------------------------------
# (``SessionInfo``'s shape and these are also checked against waha-py's models in the tests.)

class Worker(msgspec.Struct, kw_only=True):
    #: ``WAHA_WORKER_ID`` / ``HOOKWIRE_WORKER_ID``; empty when not set.
    id: str


class WahaEnvironment(msgspec.Struct, kw_only=True):
    version: str
    engine: str
    tier: str
    browser: str
    platform: str
    worker: Worker


class ServerStatus(msgspec.Struct, kw_only=True):
    startTimestamp: int
    uptime: int
    worker: Worker


class StopRequest(Body):
    #: Stop at once: in-flight deliveries get no grace period (they stay in the store).
    force: bool | None = None


class StopResponse(msgspec.Struct, kw_only=True):
    stopping: bool = True


class Ping(msgspec.Struct, kw_only=True):
    message: str = "pong"
