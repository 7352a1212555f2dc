"""``/dashboard``: a page for the person running hookwire, in plain HTML, CSS and JavaScript
shipped with the package (no build step, nothing downloaded): sessions (status, account, last
error, restarts, the QR code to scan, start/stop/restart/logout), endpoints (state, failures,
pending and dead, enable), deliveries (filters, a page at a time, each with its attempts,
re-send one or all matching) and a live tail of ``/ws``.

The page and its files are public; everything it shows comes from the API with the key, which
the person enters once: it is kept in the tab's ``sessionStorage`` and sent as ``X-Api-Key``,
never put in a URL (the live tail connects with a one-time ticket, ``POST /api/ws/ticket``).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from plugins.api.errors import ApiError
from plugins.api.routes import Call, Response, Route

STATIC = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/dashboard/static/"
FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
#: The page's own scripts and styles only: data the API returns can never run as code.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


async def page(call: Call) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={
        "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
        "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"})


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    media = FILES.get(name)
    if media is None:
        raise ApiError(404, "not_found", f"no file {name!r} in the dashboard")
    return web.FileResponse(STATIC / name, headers={"Content-Type": media,
                                                    "Cache-Control": "no-cache"})


ROUTES = [
    Route("GET", "/dashboard", page, "The dashboard: sessions, endpoints, deliveries, live events",
          "operations", {200: Response("an HTML page", media="text/html", schema={"type": "string"})},
          public=True),
]

STATIC_ROUTES = [(STATIC_PREFIX + "{name}", static_file)]
