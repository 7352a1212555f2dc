"""hookwire kernel: hookspecs, plugin loading, bus, event types, config, logging and CLI.

``core`` never imports ``engines`` or ``plugins``: they reach the kernel through the
``hookwire`` entry-point group and the hooks of :mod:`core.hookspecs`.
"""

__version__ = "0.1.0"

import pluggy as _pluggy

#: Marks a plugin's hook implementations: ``@core.hookimpl def hookwire_register_sinks(registry): ...``
hookimpl = _pluggy.HookimplMarker("hookwire")
