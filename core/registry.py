"""The registry that hooks fill: event types, config sections, engines, sinks, commands,
services (interfaces one plugin offers the others, e.g. ``core.delivery.DeliveryService``) and
metrics read at scrape time (``core.metrics.ScrapeCollector``).

Each registration remembers the plugin it came from, for ``python -m core plugins``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from core.config import Config, ConfigSection
from core.engine import EngineType
from core.events import Envelope, EventTypes
from core.metrics import KernelMetrics

if TYPE_CHECKING:
    from core.app import App
    from core.kernel import Kernel
    from core.sink import Sink


class Command(msgspec.Struct, frozen=True):
    """A ``python -m core`` sub-command contributed by a plugin.

    ``add_arguments(parser)`` declares its arguments; ``run(args, app)`` returns the exit
    status (it may be ``async``; the CLI runs it with anyio). ``needs_config`` false means it
    runs even when the config is broken (e.g. a receiver). ``default_config`` is the config
    file used when neither ``--config`` nor ``HOOKWIRE_CONFIG`` names one (default: the
    embedded ``config/default.toml``); ``config_environ(environ)`` returns the environment the
    config is read with (e.g. a command's own defaults, or other programs' variable names).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, App], Any]
    needs_config: bool = True
    default_config: Path | None = None
    config_environ: Callable[[Mapping[str, str]], Mapping[str, str]] | None = None


class Registry:
    def __init__(self) -> None:
        self.event_types = EventTypes()
        self.config_sections: dict[str, ConfigSection] = {}
        self.engines: dict[str, EngineType] = {}
        self.sinks: list[Sink] = []
        self.commands: dict[str, Command] = {}
        #: Interfaces plugins offer each other, by name (see :meth:`add_service`).
        self.services: dict[str, Any] = {}
        #: Metrics read at scrape time (:class:`core.metrics.ScrapeCollector`), see :meth:`add_metrics`.
        self.metrics: list[Any] = [KernelMetrics(self)]
        #: plugin name -> what it registered, e.g. ``["engine WEBJS", "command receive"]``.
        self.provided: dict[str, list[str]] = defaultdict(list)
        #: Set by the loader while a plugin's hook runs.
        self.current_plugin: str = "core"
        #: The effective config, once read (for the engine and sink hooks).
        self.config: Config | None = None
        #: The kernel running this registry's engines and sinks, once one is made (sinks use it
        #: to start and stop sessions at run time, e.g. the HTTP API).
        self.kernel: Kernel | None = None

    def _record(self, what: str) -> None:
        self.provided[self.current_plugin].append(what)

    def add_event_type(self, cls: type[Envelope]) -> None:
        self.event_types.add(cls)
        self._record(f"event {cls.__struct_config__.tag}")

    def add_config_section(self, section: ConfigSection) -> None:
        if section.name in self.config_sections or section.name in ("kernel", "log", "sessions"):
            raise ValueError(f"config section {section.name!r} is already registered")
        self.config_sections[section.name] = section
        self._record(f"config [{section.name}]")

    def add_engine(self, engine: EngineType) -> None:
        if engine.name in self.engines:
            raise ValueError(f"engine {engine.name!r} is already registered")
        self.engines[engine.name] = engine
        self._record(f"engine {engine.name}")

    def add_sink(self, sink: Sink) -> None:
        if any(s.name == sink.name for s in self.sinks):
            raise ValueError(f"sink {sink.name!r} is already registered")
        self.sinks.append(sink)
        self._record(f"sink {sink.name}")

    def add_service(self, name: str, service: Any) -> None:
        """Offer ``service`` to other plugins under ``name``. The names and the protocols
        their objects implement are documented in ``core`` (``core.delivery.DELIVERY_SERVICE``
        is a :class:`core.delivery.DeliveryService`). Register from
        ``hookwire_register_sinks``; look services up once every sink is registered (from a
        sink's ``run``), as the order in which plugins' hooks run is not defined."""
        if name in self.services:
            raise ValueError(f"service {name!r} is already registered")
        self.services[name] = service
        self._record(f"service {name}")

    def service(self, name: str) -> Any:
        """The service registered under ``name``, or ``None``."""
        return self.services.get(name)

    def add_metrics(self, collector: Any) -> None:
        """Add a :class:`core.metrics.ScrapeCollector`: metrics this plugin reads at scrape
        time (``/metrics``) rather than observing them as they happen. Register from any
        ``hookwire_register_*`` hook that runs after the config is read."""
        self.metrics.append(collector)
        self._record(f"metrics {type(collector).__name__}")

    def add_command(self, command: Command) -> None:
        if command.name in self.commands:
            raise ValueError(f"command {command.name!r} is already registered")
        self.commands[command.name] = command
        self._record(f"command {command.name}")
