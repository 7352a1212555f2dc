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
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class ConfigError(Exception):
    """A configuration problem a user can fix; printed without a traceback, exit status 2."""


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

    def __post_init__(self) -> None:
        if self.grace_seconds < 0:
            raise ValueError("grace_seconds must be >= 0")
        if self.bus_buffer < 1:
            raise ValueError("bus_buffer must be >= 1")


class LogConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["auto", "console", "json"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


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

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name):
            raise ValueError(f"session name {self.name!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        if self.source == "replay" and not self.replay:
            raise ValueError(f"session {self.name!r}: source 'replay' needs `replay` (a file)")


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
    names = [s.name for s in core.sessions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: sessions: the session name {duplicates[0]!r} is used twice")
    values: dict[str, Any] = {}
    for section in sections:
        section_raw = raw.get(section.name, section.default)
        if section.from_env is not None:
            section_raw = section.from_env(section_raw, environ)
        value = convert(section_raw, section.type, str(path), section.name)
        if section.check is not None:
            section.check(value, event_names)
        values[section.name] = value
    return Config(core=core, sections=values, path=str(path), base_dir=str(path.parent.resolve()))


def convert(raw: Any, type_: Any, source: str, prefix: str) -> Any:
    """``msgspec.convert`` with errors rewritten to name the key path and the bad value."""
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, raw, source, prefix)) from None


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")


def describe_validation_error(exc: Exception, raw: Any, source: str, prefix: str) -> str:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    message, path = match["msg"], match["path"] or ""
    unknown = _UNKNOWN.search(message)
    if unknown:
        path = f"{path}.{unknown['field']}"
        message = f"unknown key `{unknown['field']}`"
    full_path = f"{prefix}{path}" if prefix else path.lstrip(".")
    found = lookup(raw, path)
    detail = message[0].lower() + message[1:] if message else "invalid value"
    text = f"{source}: {full_path or '<top level>'}: {detail}"
    if found is not _MISSING and not unknown:
        text += f" (found {found!r})"
    return text


_MISSING = object()
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\"([^\"]*)\"\]")


def lookup(raw: Any, path: str) -> Any:
    """The raw value at a msgspec error path such as ``.webhooks[0].url``."""
    node = raw
    for key, index, quoted in _STEP.findall(path):
        try:
            node = node[int(index)] if index else node[key or quoted]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


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
