"""The HTTP API plugin (``[api]``, off unless ``enabled = true``): an aiohttp server, run by a
sink of the same name, on 127.0.0.1:3000 by default (like WAHA).

Routes (all JSON; every error is ``{"error", "detail"}``, with ``path`` for a bad field):

- sessions, at WAHA's paths: ``GET/POST /api/sessions``, ``GET/PUT/DELETE /api/sessions/{name}``,
  ``POST /api/sessions/{name}/start|stop|logout``, ``GET /api/{session}/auth/qr`` (PNG, or
  ``?format=raw``), ``POST /api/{session}/auth/request-code``. Sessions created here keep their
  config and webhooks in ``<data_dir>/api-sessions.sqlite3`` and come back after a restart.
- deliveries: ``GET /api/deliveries`` (a page at a time: ``X-Next-Cursor``), ``GET /api/deliveries/{id}``,
  ``POST /api/deliveries/{id}/retry``, ``POST /api/deliveries/retry``; ``GET /api/endpoints``,
  ``POST /api/endpoints/enable``.
- ``GET /health`` (503 when delivery is stuck), ``GET /metrics`` (Prometheus, from
  prometheus_client: each plugin's own metrics), ``GET /ws`` (events over WebSocket; browsers
  use a one-time ticket from ``POST /api/ws/ticket``), ``GET /openapi.json``.
- pages: the API explorer (Swagger UI) at ``/`` and ``/docs``, the dashboard at ``/dashboard``.

Modules: ``config`` (``[api]``), ``models`` (bodies as msgspec Structs), ``errors`` (JSON errors,
decoding at the edge), ``auth`` (the key), ``routes`` (the table behind the router and the
document), ``sessions``/``manager``/``session_store``/``webhooks``/``state``/``qr`` (sessions),
``deliveries``, ``health``, ``metrics``, ``ws``/``ws_tickets``, ``openapi``/``docs``,
``dashboard`` (the page and its static files), ``server`` (the app),
``sink`` (the bus side and lifecycle), ``plugin`` (hooks).
"""
