"""The API explorer at ``/`` (as WAHA has it) and ``/docs``: Swagger UI over ``/openapi.json``.

Swagger UI 5 comes from the ``swagger-ui-py`` package (its ``swagger_ui/static/`` files, served
here from the installed package: no CDN, it works with no network); its own handlers are not
used. Swagger UI 5 renders OpenAPI 3.1, the version of our document (Swagger UI 4 does not).
With an API key configured the document has an ``ApiKey`` security scheme (``X-Api-Key`` in a
header): the page's Authorize box takes the key (kept in the page's memory only) and every
"Try it out" request carries it. The page and its assets are public; the calls need the key.
"""

from __future__ import annotations

import json
from pathlib import Path

import swagger_ui
from aiohttp import web

from plugins.api.errors import ApiError
from plugins.api.routes import Call, Response, Route

#: Swagger UI's files, as the package installs them.
SWAGGER_STATIC = Path(swagger_ui.__file__).resolve().parent / "static"
STATIC_PREFIX = "/docs/static/"
#: The files the page uses (nothing else of the package is served).
SWAGGER_FILES = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript",
                 "favicon-32x32.png": "image/png", "favicon-16x16.png": "image/png"}

SETTINGS = {
    "url": "/openapi.json",
    "dom_id": "#swagger-ui",
    "deepLinking": True,
    "displayRequestDuration": True,
    "defaultModelsExpandDepth": 0,
    "docExpansion": "list",
    "filter": True,
    # No call to the online validator (no network), no key in localStorage.
    "validatorUrl": None,
    "persistAuthorization": False,
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hookwire API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png" sizes="32x32">
<style>body{margin:0} .hookwire-bar{font:14px system-ui,sans-serif;padding:.5rem 1.2rem;
background:#1b2a35;color:#fff} .hookwire-bar a{color:#9ad} .swagger-ui .topbar{display:none}</style>
</head><body>
<div class="hookwire-bar">hookwire API · <a href="/dashboard">dashboard</a> ·
<a href="/openapi.json">openapi.json</a></div>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle(Object.assign(__SETTINGS__, {
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"}));
</script></body></html>
""".replace("__SETTINGS__", json.dumps(SETTINGS))


async def docs(call: Call) -> web.StreamResponse:
    return web.Response(text=PAGE, content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def openapi(call: Call) -> web.StreamResponse:
    return web.Response(body=call.api.openapi_json(), content_type="application/json")


async def static_file(request: web.Request) -> web.StreamResponse:
    """One of Swagger UI's files (:data:`SWAGGER_FILES`), from the installed package."""
    name = request.match_info["name"]
    media = SWAGGER_FILES.get(name)
    if media is None:
        raise ApiError(404, "not_found", f"no file {name!r} in the API explorer")
    return web.FileResponse(SWAGGER_STATIC / name, headers={
        "Content-Type": media, "Cache-Control": "public, max-age=86400"})


ROUTES = [
    Route("GET", "/openapi.json", openapi, "This API, as an OpenAPI 3.1 document", "operations",
          {200: Response("the document", media="application/json", schema={"type": "object"})},
          public=True),
    Route("GET", "/docs", docs, "The API explorer (Swagger UI) over /openapi.json", "operations",
          {200: Response("an HTML page", media="text/html", schema={"type": "string"})},
          public=True),
    Route("GET", "/", docs, "The API explorer (as /docs; WAHA has it here)", "operations",
          {200: Response("an HTML page", media="text/html", schema={"type": "string"})},
          public=True),
]

#: Files served under a prefix, not documented in /openapi.json: (path, handler).
STATIC_ROUTES = [(STATIC_PREFIX + "{name}", static_file)]
