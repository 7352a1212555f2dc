"""The webhook plugin's hooks: its config sections, its sink and its commands."""

from __future__ import annotations

from core import hookimpl
from core.config import ConfigSection
from core.delivery import DELIVERY_SERVICE
from core.registry import Registry
from plugins.webhook.commands import commands
from plugins.webhook.config import DeliveryConfig, WebhookConfig, check_webhooks, webhooks_from_env
from plugins.webhook.metrics import DeliveryStoreMetrics
from plugins.webhook.service import WebhookDeliveryService
from plugins.webhook.sink import WebhookSink


@hookimpl
def hookwire_register_config_sections(registry: Registry) -> None:
    registry.add_config_section(ConfigSection(
        name="webhooks", type=list[WebhookConfig], default=[], from_env=webhooks_from_env,
        check=check_webhooks))
    registry.add_config_section(ConfigSection(name="delivery", type=DeliveryConfig, default={}))


@hookimpl
def hookwire_register_sinks(registry: Registry) -> None:
    assert registry.config is not None
    sink = WebhookSink(registry.config)
    registry.add_sink(sink)
    # The one interface other plugins use for deliveries and webhooks (core/delivery.py).
    service = WebhookDeliveryService(registry, sink)
    registry.add_service(DELIVERY_SERVICE, service)
    # What the store holds, at scrape time (the attempts themselves are observed as they happen).
    registry.add_metrics(DeliveryStoreMetrics(service))


@hookimpl
def hookwire_register_commands(registry: Registry) -> None:
    for command in commands():
        registry.add_command(command)
