"""The API plugin's hooks: its config section ``[api]``, its sink (which runs the HTTP server)
when enabled, and the ``serve`` command."""

from __future__ import annotations

from core import hookimpl
from core.config import ConfigSection
from core.registry import Registry
from plugins.api.config import ApiConfig, api_from_env, check_api


@hookimpl
def hookwire_register_config_sections(registry: Registry) -> None:
    registry.add_config_section(ConfigSection(name="api", type=ApiConfig, default={},
                                              from_env=api_from_env, check=check_api))


@hookimpl
def hookwire_register_sinks(registry: Registry) -> None:
    assert registry.config is not None
    config: ApiConfig = registry.config.section("api")
    if config.enabled:
        from plugins.api.metrics import ApiMetrics
        from plugins.api.sink import ApiSink  # only when used: aiohttp's server, segno

        sink = ApiSink(registry, registry.config)
        registry.add_sink(sink)
        registry.add_metrics(ApiMetrics(sink))


@hookimpl
def hookwire_register_commands(registry: Registry) -> None:
    from plugins.api.serve import command

    registry.add_command(command())
