"""Webhooks of API sessions: WAHA's request shape turned into the webhook plugin's
:class:`~plugins.webhook.config.WebhookConfig` (``origin = "api"``: untrusted, so the webhook
plugin applies its checks of where a URL may point), and handed to the running webhook sink.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec

from core.registry import Registry
from plugins.api.errors import ApiError, describe
from plugins.api.models import WebhookBody
from plugins.webhook.config import WebhookConfig, check_header, check_hmac_key
from plugins.webhook.ssrf import check_url_allowed


def webhook_configs(session: str, bodies: list[WebhookBody], event_names: Collection[str],
                    allow_networks: Collection[str] = (),
                    path: str = "$.config.webhooks") -> list[WebhookConfig]:
    """422 naming the field for a bad one; every hook applies to ``session`` only. A URL whose
    host is an address (in any spelling) or name the webhook plugin refuses is a 422 at once;
    a hostname is checked again at every connection by the webhook plugin."""
    known = set(event_names)
    hooks: list[WebhookConfig] = []
    keys: set[str] = set()
    for index, body in enumerate(bodies):
        where = f"{path}[{index}]"
        if not body.events:
            raise ApiError(422, "invalid_webhook", "events must name at least one event (or `*`)",
                           f"{where}.events")
        for position, name in enumerate(body.events):
            if name != "*" and name not in known:
                raise ApiError(422, "invalid_webhook", f"unknown event name {name!r}",
                               f"{where}.events[{position}]")
        try:
            check_url_allowed(body.url, allow_networks)
        except ValueError as exc:
            raise ApiError(422, "invalid_webhook", str(exc), f"{where}.url") from None
        for position, header in enumerate(body.custom_headers or ()):
            try:
                check_header(header.name, header.value)
            except ValueError as exc:
                raise ApiError(422, "invalid_webhook", str(exc), f"{where}.customHeaders[{position}]") from None
        try:
            check_hmac_key(body.hmac.key if body.hmac is not None else None)
        except ValueError as exc:
            raise ApiError(422, "invalid_webhook", str(exc), f"{where}.hmac.key") from None
        raw: dict[str, Any] = {"url": body.url, "events": list(body.events), "sessions": [session],
                               "origin": "api"}
        if body.name:
            raw["name"] = body.name
        if body.hmac is not None and body.hmac.key:
            raw["hmac_key"] = body.hmac.key
        if body.retries is not None:
            retries = {"policy": body.retries.policy, "delay_seconds": body.retries.delay_seconds,
                       "attempts": body.retries.attempts}
            raw["retries"] = {k: v for k, v in retries.items() if v is not None}
        if body.custom_headers:
            raw["headers"] = {h.name: h.value for h in body.custom_headers}
        if body.secrets:
            raw["secrets"] = list(body.secrets)
        try:
            hook = msgspec.convert(raw, WebhookConfig)
        except msgspec.ValidationError as exc:
            detail, at = describe(exc, where)
            raise ApiError(422, "invalid_webhook", detail, at) from None
        if hook.key in keys:
            raise ApiError(422, "invalid_webhook", f"two webhooks share the endpoint {hook.key!r}; "
                           "give each a distinct `name`", where)
        keys.add(hook.key)
        hooks.append(hook)
    return hooks


def webhook_sink(registry: Registry) -> Any:
    return next((s for s in registry.sinks if s.name == "webhook"), None)


async def set_session_webhooks(registry: Registry, session: str, hooks: list[WebhookConfig]) -> None:
    """Hand ``hooks`` to the running webhook sink; 503 when it cannot take them."""
    sink = webhook_sink(registry)
    if sink is None:
        if not hooks:
            return
        raise ApiError(503, "no_webhook_plugin", "the webhook plugin is not loaded: webhooks "
                       "cannot be set")
    setter = getattr(sink, "set_session_webhooks", None)
    if setter is None:
        raise ApiError(503, "unsupported", "the loaded webhook plugin cannot change webhooks at "
                       "run time")
    try:
        await setter(session, hooks)
    except ValueError as exc:  # e.g. a URL the webhook plugin refuses (private network)
        raise ApiError(422, "invalid_webhook", str(exc), "$.config.webhooks") from None
