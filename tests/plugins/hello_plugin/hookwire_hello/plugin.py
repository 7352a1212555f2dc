"""hookwire-hello-plugin: what a third party can add to hookwire, one hook each.

- event type ``hello.ping`` (payload :class:`HelloPingPayload`);
- config section ``[hello]`` (:class:`HelloConfig`); ``HELLO_PLUGIN_OUT`` overrides ``out``;
- sink ``hello``: subscribes to ``events`` (default ``*``) with overflow ``drop`` and appends
  ``{"event_name", "id", "session"}`` as one JSON line per event to the ``out`` file. Without an
  ``out`` file there is nothing to write to, so no sink is registered;
- command ``hello``: prints a ``hello.ping`` envelope, encoded and decoded through the
  application's decode union (so a test can see the plugin's event type joined it).
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskStatus

from core import hookimpl
from core.bus import Subscription
from core.config import ConfigError, ConfigSection
from core.events import define_event, encoder, environment, make_event
from core.logging import get_logger
from core.registry import Command, Registry

log = get_logger("hookwire_hello")

OUT_ENV = "HELLO_PLUGIN_OUT"


class HelloPingPayload(msgspec.Struct, kw_only=True):
    greeting: str
    to: str = "world"


HelloPingEvent = define_event("hello.ping", HelloPingPayload)


class HelloConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The JSON-lines file the sink appends to (relative to the config file); none: no sink.
    out: str | None = None
    #: Event names the sink subscribes to.
    events: list[str] = msgspec.field(default_factory=lambda: ["*"])
    #: Sent nowhere: it shows that ``check-config`` masks secret-looking keys.
    api_token: str | None = None


def _from_env(raw: Any, environ: Mapping[str, str]) -> Any:
    out = environ.get(OUT_ENV)
    if out and isinstance(raw, dict):
        return {**raw, "out": out}
    return raw


def _check(value: HelloConfig, event_names: Collection[str]) -> None:
    unknown = [name for name in value.events if name != "*" and name not in event_names]
    if unknown:
        raise ConfigError(f"hello.events: unknown event {unknown[0]!r} "
                          f"(known: *, {', '.join(sorted(event_names))})")


class HelloSink:
    """Appends the name and id of every event it receives to a JSON-lines file."""

    name = "hello"
    overflow = "drop"

    def __init__(self, path: Path, events: Collection[str]) -> None:
        self.path = path
        self.events = frozenset(events)
        self.written = 0
        self.stopping = False
        self.subscription: Subscription | None = None

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        self.subscription = subscription
        self.path.parent.mkdir(parents=True, exist_ok=True)
        async with await anyio.open_file(self.path, "ab") as out:
            task_status.started()
            async for event in subscription:
                line = msgspec.json.encode(
                    {"event_name": event.name, "id": event.id, "session": event.session})
                await out.write(line + b"\n")
                await out.flush()
                self.written += 1

    def begin_shutdown(self) -> None:
        self.stopping = True

    def summary(self) -> dict[str, Any]:
        dropped = self.subscription.dropped if self.subscription is not None else 0
        return {"written": self.written, "dropped": dropped}


@hookimpl
def hookwire_register_event_types(registry: Registry) -> None:
    registry.add_event_type(HelloPingEvent)


@hookimpl
def hookwire_register_config_sections(registry: Registry) -> None:
    registry.add_config_section(ConfigSection(
        name="hello", type=HelloConfig, default={}, from_env=_from_env, check=_check))


@hookimpl
def hookwire_register_sinks(registry: Registry) -> None:
    assert registry.config is not None
    config: HelloConfig = registry.config.section("hello")
    if config.out is None:
        log.info("no hello.out file configured, hello sink not registered")
        return
    registry.add_sink(HelloSink(registry.config.resolve_path(config.out), config.events))


def _hello_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", default="world", help="whom to greet")


def _hello(args: argparse.Namespace, app: Any) -> int:
    event_types = app.registry.event_types
    event = make_event(event_types, "hello.ping", HelloPingPayload(greeting="hello", to=args.to),
                       session="hello", engine="HELLO", env=environment("HELLO", None))
    decoded = event_types.decoder().decode(encoder.encode(event))
    print(encoder.encode(decoded).decode())
    return 0 if decoded == event else 1


@hookimpl
def hookwire_register_commands(registry: Registry) -> None:
    registry.add_command(Command("hello", "print a hello.ping envelope", _hello_args, _hello,
                                 needs_config=False))
