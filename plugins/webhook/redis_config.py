"""The Redis store made from the config (``[delivery] backend = "redis"``)."""

from __future__ import annotations

from typing import Any

from core.config import Config, ConfigError
from plugins.webhook.config import DeliveryConfig, WebhookConfig

#: How long an idle dispatcher waits in Redis for new deliveries before it looks again.
WAIT_FOR_NEW_SECONDS = 0.5


def endpoint_settings(hook: WebhookConfig) -> Any:
    from plugins.webhook.redis_store import EndpointSettings

    return EndpointSettings(ordered=hook.ordering == "chat", concurrency=hook.concurrency,
                            breaker_failures=hook.circuit_breaker.failures,
                            probe_ms=int(hook.circuit_breaker.probe_seconds * 1000))


def redis_store(config: Config, *, for_cli: bool = False) -> Any:
    """The service's store (waits through outages, buffers per ``redis_outage``), or a
    CLI command's (``for_cli``: fails at once when Redis does not answer)."""
    try:
        from plugins.webhook.redis_store import RedisDeliveryStore, default_consumer
    except ImportError as exc:
        raise ConfigError("[delivery] backend = \"redis\" needs the redis package: "
                          f"pip install 'hookwire[redis]' ({exc})") from None
    delivery: DeliveryConfig = config.section("delivery")
    hooks: list[WebhookConfig] = list(config.section("webhooks"))
    kernel = config.core.kernel
    return RedisDeliveryStore(
        delivery.redis_url, prefix=delivery.redis_prefix,
        endpoints={hook.key: endpoint_settings(hook) for hook in hooks},
        reclaim_seconds=delivery.redis_reclaim_seconds, outage=delivery.redis_outage,
        buffer_events=delivery.redis_buffer_events,
        spool_dir=None if for_cli else config.data_dir / "redis-spool",
        consumer=default_consumer(kernel.worker_id),
        wait_for_new_seconds=0.0 if for_cli or kernel.role == "engines" else WAIT_FOR_NEW_SECONDS,
        wait=not for_cli)
