"""Which webhooks want an event, and the chat it belongs to (for per-chat ordering)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.bus import matches
from core.events import Envelope
from plugins.webhook.config import WebhookConfig


def wants(hook: WebhookConfig, event: Envelope) -> bool:
    if "*" not in hook.sessions and event.session not in hook.sessions:
        return False
    return matches(hook.events, event.name)


def _field(value: Any, name: str) -> Any:
    """``value.name`` of a payload Struct, or ``value[name]`` of a plain mapping (payloads
    typed ``Any``, and third-party engines, hand over dicts)."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def chat_of(event: Envelope) -> str:
    """The chat an event is about, or ``''``: from the message id (``{fromMe}_{chat}_{id}…``),
    a presence's ``id`` or a group's id."""
    payload: Any = event.payload
    for attr in ("after",):  # message.revoked
        inner = _field(payload, attr)
        if inner is not None:
            payload = inner
    msg_id = _field(payload, "id")
    if isinstance(msg_id, str):
        parts = msg_id.split("_")
        if len(parts) >= 3 and parts[0] in ("true", "false"):
            return parts[1]
        return msg_id
    group_id = _field(_field(payload, "group"), "id")
    return group_id if isinstance(group_id, str) else ""
