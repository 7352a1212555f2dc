"""The real WAHA client (``waha-py``, generated from WAHA's OpenAPI document) as the API tests
use it: requests built from its pydantic models, answers validated against them.

waha-py's generated models are wrong against WAHA in a few places; where they are, the raw JSON
is checked for WAHA's shape and only the rest goes through the model:

- ``WebhookConfig.events`` is typed as a list of *objects*; WAHA's schema (and every WAHA
  server) has a list of event *names*. A model cannot hold WAHA's events, so a request's
  webhooks are built with none and the names are put into the dump, and an answer's events are
  checked to be names.
- ``SessionInfo.presence`` is typed as an object; WAHA sends ``"online"``, ``"offline"`` or
  ``null``.
- ``SessionInfo.timestamps.activity`` is typed as a number; WAHA sends ``null`` for a session
  with no activity yet (a stopped one).
- ``MyProfile.picture`` is typed as a string; WAHA sends ``null`` when there is no picture.
- waha-py sends ``model_dump()`` in Python mode, which leaves enums (``Policy``) as enum objects
  its HTTP client cannot encode; requests here are dumped in JSON mode (same keys, every unset
  field present as ``null``, as waha-py sends them).
"""

from __future__ import annotations

import copy
from typing import Any

from waha import models


def dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


def webhook(url: str, events: list[str], **fields: Any) -> dict[str, Any]:
    """A ``WebhookConfig`` as waha-py sends it, with WAHA's event names."""
    hook = dump(models.WebhookConfig(url=url, events=[], **fields))
    hook["events"] = list(events)
    return hook


def with_webhooks(request: dict[str, Any], hooks: list[dict[str, Any]]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    request.setdefault("config", {})["webhooks"] = hooks
    return request


def _event_names(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config or not config.get("webhooks"):
        return config
    config = copy.deepcopy(config)
    for hook in config["webhooks"]:
        assert all(isinstance(name, str) for name in hook["events"]), hook["events"]
        hook["events"] = [{} for _ in hook["events"]]  # waha-py: objects (see above)
    return config


def session_info(raw: dict[str, Any]) -> models.SessionInfo:
    """Validate a ``SessionInfo`` answer: WAHA's shape where waha-py is wrong, its model for the rest."""
    assert raw["presence"] in ("online", "offline", None), raw["presence"]
    activity = raw["timestamps"]["activity"]
    assert activity is None or (isinstance(activity, int) and activity > 1_600_000_000_000), activity
    if raw.get("me") is not None:
        assert isinstance(raw["me"].get("pushName"), str), raw["me"]  # a string, never null
    fixed = {**raw, "presence": {}, "timestamps": {"activity": activity or 0},
             "config": _event_names(raw.get("config"))}
    return models.SessionInfo.model_validate(fixed)


def my_profile(raw: dict[str, Any]) -> models.MyProfile:
    assert raw["picture"] is None or isinstance(raw["picture"], str)
    return models.MyProfile.model_validate({**raw, "picture": raw["picture"] or ""})
