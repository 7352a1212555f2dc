"""The loaded application: plugins, registry, config. Shared by the CLI and tests."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pluggy

from core.config import Config, ConfigError, load_config
from core.plugins import PluginInfo, call_register_hook, load_entry_points, new_plugin_manager
from core.registry import Registry


class App:
    def __init__(self, pm: pluggy.PluginManager, registry: Registry, plugins: list[PluginInfo],
                 strict: bool) -> None:
        self.pm = pm
        self.registry = registry
        self.plugins = plugins
        self.strict = strict

    @property
    def config(self) -> Config:
        if self.registry.config is None:
            raise RuntimeError("the config is not loaded yet")
        return self.registry.config

    @classmethod
    def load(
        cls,
        *,
        block: Iterable[str] = (),
        strict: bool = False,
        extra_plugins: Iterable[tuple[str, Any]] = (),
        entry_points: bool = True,
    ) -> App:
        """Load plugins (entry points, then ``extra_plugins`` as ``(name, object)``) and fire
        the hooks that come before the config."""
        pm = new_plugin_manager()
        infos = load_entry_points(pm, block=block, strict=strict) if entry_points else []
        for name, plugin in extra_plugins:
            pm.register(plugin, name=name)
            infos.append(PluginInfo(name=name, distribution=None, version=None,
                                    module=getattr(plugin, "__name__", type(plugin).__name__)))
        registry = Registry()
        app = cls(pm, registry, infos, strict)
        for hook in ("hookwire_register_event_types", "hookwire_register_config_sections",
                     "hookwire_register_commands"):
            call_register_hook(pm, hook, registry, strict=strict)
        return app

    def load_config(self, path: Path, environ: Mapping[str, str] | None = None) -> Config:
        """Read the config (raises ConfigError), then fire the engine and sink hooks."""
        config = load_config(
            path,
            self.registry.config_sections.values(),
            self.registry.event_types.names(),
            os.environ if environ is None else environ,
        )
        self.registry.config = config
        for hook in ("hookwire_register_engines", "hookwire_register_sinks"):
            call_register_hook(self.pm, hook, self.registry, strict=self.strict)
        engines = self.registry.engines
        for index, session in enumerate(config.core.sessions):
            if session.engine not in engines:
                known = ", ".join(sorted(engines)) or "none loaded"
                raise ConfigError(f"{config.path}: sessions[{index}].engine: unknown engine "
                                  f"{session.engine!r} (known: {known})")
        return config
