"""Loading plugins from the ``hookwire`` entry-point group, one at a time.

pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to import; here
each load is wrapped: a failure is logged with the distribution's name and the rest still load
(``strict`` makes it fatal). A name seen twice (duplicate dist-info on ``sys.path``) is loaded
once; when the second one comes from another distribution, that is logged. Blocked names
(entry-point or distribution, compared the way pip compares names) are skipped.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterable
from typing import Any

import msgspec
import pluggy

from core import hookspecs
from core.logging import get_logger
from core.registry import Registry

log = get_logger(__name__)

GROUP = "hookwire"


class PluginLoadError(Exception):
    """A plugin failed to load or register while ``strict`` was on."""


class PluginInfo(msgspec.Struct, kw_only=True):
    name: str
    distribution: str | None
    version: str | None
    module: str
    loaded: bool = True
    error: str | None = None


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _distribution(ep: md.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def load_entry_points(
    pm: pluggy.PluginManager,
    *,
    block: Iterable[str] = (),
    strict: bool = False,
) -> list[PluginInfo]:
    blocked = {_normalize(name) for name in block}
    infos: list[PluginInfo] = []
    seen: dict[str, str | None] = {}  # entry-point name -> its distribution
    for ep in sorted(md.entry_points(group=GROUP), key=lambda e: e.name):
        dist, version = _distribution(ep)
        if ep.name in seen:
            if seen[ep.name] != dist:  # not a duplicate dist-info: another plugin, same name
                log.warning("plugin name already taken, skipped", plugin=ep.name,
                            distribution=dist, loaded_from=seen[ep.name])
            continue
        seen[ep.name] = dist
        if _normalize(ep.name) in blocked or (dist is not None and _normalize(dist) in blocked):
            log.info("plugin blocked", plugin=ep.name, distribution=dist)
            continue
        info = PluginInfo(name=ep.name, distribution=dist, version=version, module=ep.value)
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the others
            info.loaded = False
            info.error = f"{type(exc).__name__}: {exc}"
            if strict:  # fatal: the CLI prints this one line, so it is not logged as well
                raise PluginLoadError(
                    f"plugin {ep.name!r} from distribution {dist!r} failed to load: {info.error}"
                ) from exc
            log.error("plugin failed to load", plugin=ep.name, distribution=dist,
                      version=version, error=info.error)
        infos.append(info)
    return infos


def _normalize(name: str) -> str:
    """A distribution name as pip compares them: ``Hookwire_Foo.bar`` is ``hookwire-foo-bar``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def call_register_hook(
    pm: pluggy.PluginManager, hook_name: str, registry: Registry, *, strict: bool = False
) -> None:
    """Call ``hook_name`` plugin by plugin, so each registration is attributed to its plugin
    and one plugin's failing hook does not stop the others."""
    hook: Any = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order
        registry.current_plugin = impl.plugin_name
        try:
            # pluggy lets an implementation leave out parameters of its spec
            impl.function(*(registry for _ in impl.argnames))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if strict:  # fatal: the CLI prints this one line, so it is not logged as well
                raise PluginLoadError(f"plugin {impl.plugin_name!r}: {hook_name} failed: {error}") from exc
            log.error("plugin hook failed", plugin=impl.plugin_name, hook=hook_name, error=error)
        finally:
            registry.current_plugin = "core"
