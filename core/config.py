"""Configuration: a TOML file decoded into msgspec Structs, plugin sections, env overrides.

Order of precedence: the file (``--config PATH``, ``HOOKWIRE_CONFIG``, else the embedded
``config/default.toml``), then each section's environment overrides (the WAHA
``WHATSAPP_HOOK_*`` variables belong to the webhook plugin's section). Every error is a
:class:`ConfigError` naming the key path, what was expected and what was found.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class ConfigError(Exception):
    """A configuration problem a user can fix; printed without a traceback, exit status 2."""


ROLES: tuple[str, ...] = ("all", "engines", "worker")
Role = Literal["all", "engines", "worker"]


class KernelConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Seconds that in-flight deliveries get to finish after SIGINT/SIGTERM.
    grace_seconds: float = 10.0
    #: Exit once every session's source has ended and every delivery is final (replays).
    exit_when_done: bool = False
    #: Bound of each subscriber's memory stream on the bus.
    bus_buffer: int = 1000
    #: ``environment.worker.id`` in envelopes (``HOOKWIRE_WORKER_ID`` overrides).
    worker_id: str | None = None
    #: Directory for durable state (``HOOKWIRE_DATA_DIR`` overrides).
    data_dir: str = ".hookwire"
    #: ``all``: sessions and delivery in one process. ``engines``: run the sessions and write
    #: deliveries to the store, deliver nothing. ``worker``: run no session, only deliver from
    #: the store (``--role``, then ``HOOKWIRE_ROLE``, override).
    role: Role = "all"

    def __post_init__(self) -> None:
        if self.grace_seconds < 0:
            raise ValueError("grace_seconds must be >= 0")
        if self.bus_buffer < 1:
            raise ValueError("bus_buffer must be >= 1")


class LogConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["auto", "console", "json"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: A progress line this often while there is work (0: none); at info level.
    progress_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 5.0


class SessionIgnore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Chats whose events are dropped at the engine edge (WAHA's ``config.ignore``);
    ``session.status`` and other session-wide events are never dropped."""

    #: ``status@broadcast`` (stories).
    status: bool = False
    #: Group chats (``@g.us``).
    groups: bool = False
    #: Channels (``@newsletter``).
    channels: bool = False
    #: Other broadcast lists (``@broadcast`` other than ``status@broadcast``).
    broadcast: bool = False


class SessionProxy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The proxy a live bridge connects through (WAHA's ``config.proxy``)."""

    #: ``host:port`` or a URL (``http://host:port``, ``socks5://host:port``).
    server: str
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        if not self.server.strip() or any(c.isspace() for c in self.server):
            raise ValueError(f"proxy.server {self.server!r} must be host:port or a URL, "
                             "without spaces")


class SessionConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One WhatsApp session: which engine, where its native records come from."""

    name: str = "default"
    engine: str = "WEBJS"
    #: ``replay``: a JSONL recording; ``bridge``: the engine's live bridge process.
    source: Literal["replay", "bridge"] = "replay"
    #: The recording (relative paths are relative to the config file).
    replay: str | None = None
    #: ``max``: as fast as possible; ``recorded``: paced by the records' ``ts`` (ms).
    pace: Literal["max", "recorded"] = "max"
    metadata: dict[str, str] | None = None
    #: The session's own account, as a live bridge learns it from the library.
    me_id: str | None = None
    me_lid: str | None = None
    me_push_name: str | None = None
    enabled: bool = True
    #: Chats whose events are not emitted (WAHA ``config.ignore``).
    ignore: SessionIgnore = msgspec.field(default_factory=SessionIgnore)
    #: The live bridge and its library log at debug (WAHA ``config.debug``).
    debug: bool = False
    #: The live bridge's connection goes through this proxy (WAHA ``config.proxy``).
    proxy: SessionProxy | None = None
    #: The linked device's name shown on the phone (WAHA ``config.client.deviceName``).
    device_name: str | None = None
    #: The browser name shown on the phone (WAHA ``config.client.browserName``).
    browser_name: str | None = None
    #: NOWEB: appear online when connected (WAHA ``config.noweb.markOnline``).
    mark_online: bool = True
    #: WEBJS: emit WA Web's receipt/presence/chatstate nodes as ``tag:*`` records, which give
    #: ``message.ack.group`` and ``presence.update`` (WAHA ``config.webjs.tagsEventsOn``).
    tags_events_on: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name):
            raise ValueError(f"session name {self.name!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        if self.source == "replay" and not self.replay:
            raise ValueError(f"session {self.name!r}: source 'replay' needs `replay` (a file)")
        for key, value in (("device_name", self.device_name), ("browser_name", self.browser_name)):
            if value is not None and not 1 <= len(value) <= 64:
                raise ValueError(f"session {self.name!r}: {key} must be 1-64 characters")


class CoreConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kernel: KernelConfig = msgspec.field(default_factory=KernelConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    sessions: list[SessionConfig] = []


EnvOverride = Callable[[Any, Mapping[str, str]], Any]
SectionCheck = Callable[[Any, Collection[str]], None]


class ConfigSection(msgspec.Struct, frozen=True):
    """A top-level config key contributed by a plugin.

    ``type`` is what msgspec converts the raw TOML value to; ``default`` the raw value when the
    key is absent. ``from_env(raw, environ)`` returns the raw value with environment overrides
    applied (raise :class:`ConfigError` naming the variable). ``check(value, event_names)``
    validates what needs the loaded plugins (e.g. event names).
    """

    name: str
    type: Any
    default: Any = None
    from_env: EnvOverride | None = None
    check: SectionCheck | None = None


class Config(msgspec.Struct, kw_only=True):
    """The effective configuration: core parts plus plugin sections by name."""

    core: CoreConfig
    sections: dict[str, Any]
    path: str
    base_dir: str

    def section(self, name: str) -> Any:
        return self.sections[name]

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def data_dir(self) -> Path:
        return Path(os.environ.get("HOOKWIRE_DATA_DIR") or self.core.kernel.data_dir).expanduser()


_CORE_KEYS = ("kernel", "log", "sessions")


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    if environ.get("HOOKWIRE_CONFIG"):
        return Path(environ["HOOKWIRE_CONFIG"])
    return DEFAULT_CONFIG_PATH


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def load_config(
    path: Path,
    sections: Collection[ConfigSection] = (),
    event_names: Collection[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, override from the environment and validate; raise :class:`ConfigError`."""
    environ = os.environ if environ is None else environ
    raw = read_toml(path)
    by_name = {s.name: s for s in sections}
    unknown = sorted(set(raw) - set(_CORE_KEYS) - set(by_name))
    if unknown:
        known = ", ".join(sorted({*_CORE_KEYS, *by_name}))
        raise ConfigError(f"{path}: unknown key `{unknown[0]}` (known top-level keys: {known})")
    core_raw = {k: raw[k] for k in _CORE_KEYS if k in raw}
    core = convert(core_raw, CoreConfig, str(path), "")
    if environ.get("HOOKWIRE_WORKER_ID"):
        core.kernel.worker_id = environ["HOOKWIRE_WORKER_ID"]
    if environ.get("HOOKWIRE_ROLE"):
        role = environ["HOOKWIRE_ROLE"].strip().lower()
        if role not in ROLES:
            raise ConfigError(f"HOOKWIRE_ROLE: expected one of {', '.join(ROLES)}, "
                              f"found {environ['HOOKWIRE_ROLE']!r}")
        core.kernel.role = role  # type: ignore[assignment]
    if core.kernel.role == "worker":
        # A delivery worker runs no session and never ends by itself: it serves the store.
        core.sessions = []
        core.kernel.exit_when_done = False
    seen: set[str] = set()
    for index, session in enumerate(core.sessions):
        if session.name in seen:
            raise ConfigError(f"{path}: sessions[{index}].name: session names must be unique, "
                              f"{session.name!r} is used twice")
        seen.add(session.name)
        if session.replay:  # relative to the config file; must exist before anything starts
            replay = Path(session.replay).expanduser()
            replay = replay if replay.is_absolute() else path.parent.resolve() / replay
            if session.source == "replay" and not replay.is_file():
                raise ConfigError(f"{path}: sessions[{index}].replay: no such file {str(replay)!r}")
            session.replay = str(replay)
    values: dict[str, Any] = {}
    for section in sections:
        section_raw = raw.get(section.name, section.default)
        try:
            if section.from_env is not None:
                section_raw = section.from_env(section_raw, environ)
            value = convert(section_raw, section.type, str(path), section.name)
            if section.check is not None:
                section.check(value, event_names)
        except ConfigError:
            raise
        except Exception as exc:  # a plugin's hook must not turn a bad value into a traceback
            raise ConfigError(f"{path}: {section.name}: {type(exc).__name__}: {exc}") from None
        values[section.name] = value
    return Config(core=core, sections=values, path=str(path), base_dir=str(path.parent.resolve()))


def convert(raw: Any, type_: Any, source: str, prefix: str) -> Any:
    """``msgspec.convert`` with errors rewritten to name the key path and the bad value."""
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, raw, source, prefix, type_)) from None


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")


def describe_validation_error(exc: Exception, raw: Any, source: str, prefix: str,
                              type_: Any = Any) -> str:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    message, path = match["msg"], match["path"] or ""
    unknown = _UNKNOWN.search(message)
    if unknown:
        path = f"{path}.{unknown['field']}"
        message = f"unknown key `{unknown['field']}`"
    shown, found, leaf_type = _walk(raw, type_, path)
    full_path = f"{prefix}{shown}" if prefix else shown.lstrip(".")
    detail = message[0].lower() + message[1:] if message else "invalid value"
    allowed = [v for m in _members(leaf_type) if typing.get_origin(m) is Literal
               for v in typing.get_args(m)]
    if allowed and not unknown:
        detail += f" (expected one of {', '.join(map(repr, allowed))})"
    text = f"{source}: {full_path or '<top level>'}: {detail}"
    if found is not _MISSING and not unknown:
        text += f" (found {masked(found, full_path.rsplit('.', 1)[-1])!r})"
    return text


_MISSING = object()
# msgspec error paths: ``.field``, ``[0]``, and ``[...]`` for "some value of a table".
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|(\[\.\.\.\])")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _members(type_: Any) -> tuple[Any, ...]:
    """The members of a union such as ``str | None``, or the type itself."""
    if typing.get_origin(type_) in (typing.Union, types.UnionType):
        return typing.get_args(type_)
    return (type_,)


def _container(type_: Any, node: Any) -> Any:
    """The member of a union that the raw ``node`` (a table or an array) was converted to."""
    for member in _members(type_):
        origin = typing.get_origin(member) or member
        is_struct = isinstance(origin, type) and issubclass(origin, msgspec.Struct)
        if isinstance(node, dict) and (origin is dict or is_struct):
            return member
        if isinstance(node, list) and origin in (list, tuple, set, frozenset):
            return member
    return Any


def _walk(raw: Any, type_: Any, path: str) -> tuple[str, Any, Any]:
    """Follow a msgspec error path through the raw value and its type: the readable path
    (a table's key instead of ``[...]``), the raw value found there and its expected type."""
    node, shown = raw, ""
    for key, index, any_value in _STEP.findall(path):
        type_ = _container(type_, node)
        args = typing.get_args(type_)
        if key:
            if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
                fields = {f.encode_name: f.type for f in msgspec.structs.fields(type_)}
                type_ = fields.get(key, Any)
            else:
                type_ = args[1] if len(args) == 2 else Any
            shown += f".{key}"
            node = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
        elif index:
            type_ = args[0] if args else Any
            shown += f"[{index}]"
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else _MISSING
        elif any_value:
            type_ = args[1] if len(args) == 2 else Any
            bad = _first_bad_item(node, type_)
            if bad is _MISSING:
                return shown + any_value, node, type_
            shown += f".{bad}" if _BARE_KEY.fullmatch(str(bad)) else f"[{str(bad)!r}]"
            node = node[bad]
        if node is _MISSING:
            return shown, _MISSING, type_
    return shown, node, type_


def _first_bad_item(table: Any, value_type: Any) -> Any:
    """The first key of ``table`` whose value does not convert to ``value_type``."""
    if not isinstance(table, dict):
        return _MISSING
    for key, value in table.items():
        try:
            msgspec.convert(value, value_type)
        except msgspec.ValidationError:
            return key
    return _MISSING


SECRET_KEY = re.compile(r"(secret|hmac_key|password|api_key|token|authorization)", re.I)


def masked(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (builtins) with secret-looking keys replaced by ``"***"``."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if value not in (None, "", []) and SECRET_KEY.search(key):
        return "***"
    return value
