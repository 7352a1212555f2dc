"""Every hook a hookwire plugin can implement. Hooks are synchronous and *register objects*.

pluggy does not await ``async def`` hook implementations, so no hook does work: each hands
classes or factories to the :class:`core.registry.Registry` it receives, and the kernel owns
their lifecycles (it awaits their ``run()`` methods). Implement a hook with
``@core.hookimpl`` in a module or object named by an entry point of the ``hookwire`` group::

    [project.entry-points.hookwire]
    myplugin = "my_package.plugin"

The hooks fire in this order, once per process: right after plugins are loaded
``hookwire_register_event_types`` → ``hookwire_register_config_sections`` →
``hookwire_register_commands``; then, once the config is read, ``hookwire_register_engines`` →
``hookwire_register_sinks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from core.registry import Registry

hookspec = pluggy.HookspecMarker("hookwire")


@hookspec
def hookwire_register_event_types(registry: Registry) -> None:
    """Add event types beyond WAHA's catalogue.

    Fires first, before the config is read, so that event filters in the config can name the
    new events.

    :param registry: call ``registry.add_event_type(cls)`` with a subclass of
        :class:`core.events.Envelope` tagged with the new event name (use
        :func:`core.events.define_event`). A name already registered by another class is an error.
    """


@hookspec
def hookwire_register_config_sections(registry: Registry) -> None:
    """Add top-level keys to the TOML config.

    Fires before the config file is read; an unknown top-level key is a config error, so a
    plugin with settings must register its section here.

    :param registry: call ``registry.add_config_section(core.config.ConfigSection(...))`` with
        the key, the msgspec type its value converts to, the default raw value, and optionally
        an environment-override function and a check that needs the loaded event names.
    """


@hookspec
def hookwire_register_engines(registry: Registry) -> None:
    """Add WhatsApp engines (``WEBJS``, ``NOWEB`` or a third party's).

    Fires once the config is loaded. Sessions in the config name an engine by its name.

    :param registry: call ``registry.add_engine(core.engine.EngineType(...))``; the kernel
        creates one session runner per configured session and supervises it.
    """


@hookspec
def hookwire_register_sinks(registry: Registry) -> None:
    """Add sinks: consumers of events from the bus (the webhook sink, an observer …).

    Fires once the config is loaded; ``registry.config`` holds the effective config,
    including the plugin's own section.

    :param registry: call ``registry.add_sink(sink)`` with an object implementing
        :class:`core.sink.Sink`. The kernel subscribes it to the bus with its ``events`` and
        ``overflow`` and supervises its ``run``. A plugin that offers an interface to other
        plugins registers it here too, with ``registry.add_service(name, obj)``: the webhook
        plugin registers its :class:`core.delivery.DeliveryService` as
        ``core.delivery.DELIVERY_SERVICE`` (``"delivery"``), which the HTTP API uses for
        everything it does with deliveries and webhooks. Other plugins look services up with
        ``registry.service(name)`` once all sinks are registered (e.g. in their sink's ``run``).
    """


@hookspec
def hookwire_register_commands(registry: Registry) -> None:
    """Add ``python -m core`` sub-commands.

    Fires before the config is read, when the CLI builds its parser.

    :param registry: call ``registry.add_command(core.registry.Command(...))`` with the
        command's name, help text, a function that adds its arguments to an
        ``argparse.ArgumentParser``, and a function ``(args, app) -> int`` returning the exit
        status. ``app`` is a :class:`core.app.App` (config, registry, event types).
    """
