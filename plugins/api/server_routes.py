"""Server routes, as WAHA has them: version (also the deprecated ``/api/version``),
environment, status, stop, and ``/ping``."""

from __future__ import annotations

import os
import re
import time

import msgspec
from aiohttp import web
from yarl import URL

from core.config import SECRET_KEY
from core.events import environment
from core.logging import get_logger
from plugins.api.errors import ApiError, json_response
from plugins.api.routes import Call, Response, Route
from plugins.api.session_models import MASK, Ping, ServerStatus, StopRequest, StopResponse, WahaEnvironment, Worker

log = get_logger("plugins.api")

#: Variables shown by ``/api/server/environment`` without ``all`` (WAHA's, plus hookwire's).
SHOWN_PREFIXES = ("WAHA_", "WHATSAPP_", "HOOKWIRE_")
#: Values of variables whose name looks secret are shown masked.
SECRET_NAME = re.compile(rf"({SECRET_KEY.pattern}|key|pass|credential|private)", re.I)


class EnvironmentQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Every variable, not only WAHA's and hookwire's.
    all: bool = False


def _without_password(value: str) -> str:
    """A URL's password masked (``WHATSAPP_HOOK_URL=https://user:pass@…``); other values as they are."""
    if "://" not in value or "@" not in value:
        return value
    try:
        url = URL(value)
    except ValueError:
        return value
    return str(url.with_password(MASK)) if url.password else value


def _worker_id(call: Call) -> str:
    return call.api.app_config.core.kernel.worker_id or ""


def waha_environment(call: Call) -> WahaEnvironment:
    """As the envelopes' ``environment``, with the default engine (WAHA's ``VERSION``)."""
    env = environment(call.api.config.default_engine, call.api.app_config.core.kernel.worker_id)
    return WahaEnvironment(version=env.version, engine=env.engine, tier=env.tier,
                           browser=env.browser, platform=env.platform,
                           worker=Worker(id=env.worker.id or ""))


async def version(call: Call) -> web.StreamResponse:
    return json_response(waha_environment(call))


async def server_environment(call: Call) -> web.StreamResponse:
    shown = {}
    for name in sorted(os.environ):
        if call.query.all or name.startswith(SHOWN_PREFIXES) or name == "DEBUG":
            value = os.environ[name]
            shown[name] = MASK if value and SECRET_NAME.search(name) else _without_password(value)
    return json_response(shown)


async def status(call: Call) -> web.StreamResponse:
    now = time.time_ns() // 1_000_000
    started = call.api.started_at
    return json_response(ServerStatus(startTimestamp=started, uptime=max(0, now - started),
                                      worker=Worker(id=_worker_id(call))))


async def stop(call: Call) -> web.StreamResponse:
    body: StopRequest = call.body
    kernel = call.api.registry.kernel
    if kernel is None:
        raise ApiError(503, "not_ready", "no kernel is running")
    log.warning("stop requested over the API", force=bool(body.force), peer=call.request.remote)
    # Answer first, then stop: the server finishes this answer while the kernel winds down.
    response = json_response(StopResponse(stopping=True), status=201)
    await response.prepare(call.request)
    await response.write_eof()
    kernel.request_stop(force=bool(body.force))
    return response


async def ping(call: Call) -> web.StreamResponse:
    return json_response(Ping())


TAG = "observability"

ROUTES = [
    Route("GET", "/api/server/version", version, "The server's version", TAG,
          {200: Response("version, engine (the default one), tier, browser, platform, worker",
                         WahaEnvironment)}),
    Route("GET", "/api/version", version, "The server's version (deprecated: use "
          "/api/server/version)", TAG, {200: Response("as /api/server/version", WahaEnvironment)}),
    Route("GET", "/api/server/environment", server_environment, "The server's environment", TAG,
          {200: Response("WAHA_*, WHATSAPP_*, HOOKWIRE_* and DEBUG variables (all with all=true); "
                         "secret-looking values masked", dict[str, str])}, query=EnvironmentQuery),
    Route("GET", "/api/server/status", status, "The server's status", TAG,
          {200: Response("start time and uptime (ms), worker", ServerStatus)}),
    Route("POST", "/api/server/stop", stop, "Stop the server", TAG,
          {201: Response("stopping", StopResponse)}, body=StopRequest, errors=(503,),
          description="Stops as SIGTERM does: intake stops, in-flight deliveries get the grace "
                      "period (none with `force`), the rest waits in the store. A supervisor "
                      "(Docker, systemd) may start it again."),
    Route("GET", "/ping", ping, "Is the server alive", TAG, {200: Response("pong", Ping)},
          public=True),
]
