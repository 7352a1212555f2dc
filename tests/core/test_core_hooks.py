"""The hookspecs: each is documented, each fires at its moment, each is exercised here.

Modelled on datasette's checks: a hook without a docstring that says when it fires and what
each parameter is fails ``test_hookspecs_are_documented``; a hook without a
``test_hook_<name>`` below fails ``test_every_hook_has_a_test``.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

from core import hookimpl, hookspecs
from core.app import App
from core.config import ConfigSection
from core.engine import EngineType
from core.events import define_event
from core.plugins import PluginLoadError, new_plugin_manager
from core.registry import Command, Registry

HOOK_NAMES = sorted(name for name, fn in vars(hookspecs).items()
                    if name.startswith("hookwire_") and callable(fn))


def test_the_plugin_manager_knows_exactly_the_documented_hooks():
    pm = new_plugin_manager()
    registered = sorted(name for name in dir(pm.hook) if name.startswith("hookwire_"))
    assert registered == HOOK_NAMES
    assert len(HOOK_NAMES) == 5


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hookspecs_are_documented(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn)
    assert doc, f"{name} has no docstring"
    assert re.search(r"\bFires\b", doc), f"{name}: the docstring must say when the hook fires"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name}: parameter {param!r} is not documented"
    # the module docstring gives the order in which all hooks fire
    assert name in (hookspecs.__doc__ or "")


def test_every_hook_has_a_test():
    missing = [name for name in HOOK_NAMES if f"test_hook_{name}" not in globals()]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


class Ping(msgspec.Struct, kw_only=True):
    text: str = ""


PingEvent = define_event("recorder.ping", Ping)


class RecorderSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: int = 1


class RecorderSink:
    name = "recorder-sink"
    events = frozenset({"*"})
    overflow = "drop"

    def __init__(self, level: int) -> None:
        self.level = level

    async def run(self, subscription: Any, *, task_status: Any) -> None:
        task_status.started()

    def begin_shutdown(self) -> None:
        pass


class Recorder:
    """A plugin implementing every hook; it records what the kernel handed it, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def hookwire_register_event_types(self, registry: Registry) -> None:
        self.calls.append(("event_types", registry.config))
        registry.add_event_type(PingEvent)

    @hookimpl
    def hookwire_register_config_sections(self, registry: Registry) -> None:
        self.calls.append(("config_sections", registry.config))
        registry.add_config_section(ConfigSection(name="recorder", type=RecorderSettings, default={}))

    @hookimpl
    def hookwire_register_commands(self, registry: Registry) -> None:
        self.calls.append(("commands", registry.config))

        def add_arguments(parser: argparse.ArgumentParser) -> None:
            parser.add_argument("--times", type=int, default=1)

        def run(args: argparse.Namespace, app: App) -> int:
            return 40 + args.times

        registry.add_command(Command("record", "record things", add_arguments, run))

    @hookimpl
    def hookwire_register_engines(self, registry: Registry) -> None:
        self.calls.append(("engines", registry.config))
        registry.add_engine(EngineType(name="RECORDER", create_session=lambda cfg: None,
                                       create_translator=lambda s, me_id, me_lid: None))

    @hookimpl
    def hookwire_register_sinks(self, registry: Registry) -> None:
        self.calls.append(("sinks", registry.config))
        assert registry.config is not None
        registry.add_sink(RecorderSink(registry.config.section("recorder").level))


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "none.jsonl").touch()
    path = tmp_path / "hookwire.toml"
    path.write_text("[recorder]\nlevel = 7\n\n[[sessions]]\nname = 'r'\nengine = 'RECORDER'\n"
                    "replay = 'none.jsonl'\n")
    return path


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(recorder: Recorder) -> App:
    return App.load(extra_plugins=[("recorder", recorder)], entry_points=False)


def test_hooks_fire_in_the_documented_order(app, recorder, config_path):
    assert [name for name, _ in recorder.calls] == ["event_types", "config_sections", "commands"]
    assert all(config is None for _, config in recorder.calls)  # before the config is read
    app.load_config(config_path, environ={})
    assert [name for name, _ in recorder.calls] == [
        "event_types", "config_sections", "commands", "engines", "sinks"]
    assert recorder.calls[-1][1] is app.config  # the engine and sink hooks see the config


def test_hook_hookwire_register_event_types(app):
    assert "recorder.ping" in app.registry.event_types
    assert app.registry.event_types.get("recorder.ping") is PingEvent
    assert "recorder.ping" in app.registry.event_types.names()
    assert "event recorder.ping" in app.registry.provided["recorder"]


def test_hook_hookwire_register_config_sections(app, config_path, tmp_path):
    assert "recorder" in app.registry.config_sections
    config = app.load_config(config_path, environ={})
    assert config.section("recorder") == RecorderSettings(level=7)
    assert "config [recorder]" in app.registry.provided["recorder"]


def test_hook_hookwire_register_commands(app):
    from core.cli import build_parser

    command = app.registry.commands["record"]
    args = build_parser({"record": command}).parse_args(["record", "--times", "2"])
    assert command.run(args, app) == 42
    assert "command record" in app.registry.provided["recorder"]


def test_hook_hookwire_register_engines(app, config_path):
    assert app.registry.engines == {}  # engines come once the config is read
    app.load_config(config_path, environ={})
    assert list(app.registry.engines) == ["RECORDER"]
    assert "engine RECORDER" in app.registry.provided["recorder"]


def test_hook_hookwire_register_sinks(app, config_path):
    assert app.registry.sinks == []
    app.load_config(config_path, environ={})
    [sink] = app.registry.sinks
    assert isinstance(sink, RecorderSink) and sink.level == 7  # built from its own section
    assert "sink recorder-sink" in app.registry.provided["recorder"]


class FailingPlugin:
    @hookimpl
    def hookwire_register_event_types(self, registry: Registry) -> None:
        raise RuntimeError("no events today")


class DuplicateEventPlugin:
    @hookimpl
    def hookwire_register_event_types(self, registry: Registry) -> None:
        registry.add_event_type(define_event("message", Any))  # a catalogue name


def test_a_failing_hook_is_logged_with_its_plugin_and_the_others_still_register(recorder):
    with capture_logs() as logs:
        app = App.load(extra_plugins=[("failing", FailingPlugin()), ("dup", DuplicateEventPlugin()),
                                      ("recorder", recorder)], entry_points=False)
    failures = {r["plugin"]: r for r in logs if r["event"] == "plugin hook failed"}
    assert set(failures) == {"failing", "dup"}
    assert failures["failing"]["hook"] == "hookwire_register_event_types"
    assert failures["failing"]["error"] == "RuntimeError: no events today"
    assert "'message' is already registered" in failures["dup"]["error"]
    assert "recorder.ping" in app.registry.event_types
    assert app.registry.current_plugin == "core"


def test_a_failing_hook_is_fatal_in_strict_mode():
    with pytest.raises(PluginLoadError, match="'failing'.*hookwire_register_event_types.*no events today"):
        App.load(extra_plugins=[("failing", FailingPlugin())], entry_points=False, strict=True)


def test_a_hook_implementation_may_leave_out_its_parameters():
    seen: list[str] = []

    class Minimal:
        @hookimpl
        def hookwire_register_commands(self) -> None:  # pluggy allows fewer arguments
            seen.append("called")

    with capture_logs() as logs:
        App.load(extra_plugins=[("minimal", Minimal())], entry_points=False)
    assert seen == ["called"]
    assert not [r for r in logs if r["log_level"] == "error"], logs
