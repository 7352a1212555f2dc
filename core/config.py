"""Configuration: a TOML file decoded into msgspec Structs, plugin sections, env overrides.

Order of precedence: the file (``--config PATH``, ``HOOKWIRE_CONFIG``, else the embedded
``config/default.toml``), then each section's environment overrides (the WAHA
``WHATSAPP_HOOK_*`` variables belong to the webhook plugin's section). Every error is a
:class:`ConfigError` naming the key path, what was expected and what was found.

Every number has a range, declared on its field (``Annotated[float, msgspec.Meta(gt=0, le=600)]``)
so msgspec enforces it (``nan`` and ``inf`` fail any range) and :func:`describe_range` can say it
in an error; environment variables with a number go through :func:`env_number` and the same
ranges. Checked at load too, so nothing fails later: the config file's encoding, the data
directory (:func:`unusable_directory`). URL credentials never appear in an error
(:class:`ConfigError` masks its message) nor in what ``check-config`` prints (:func:`masked`).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from core.config_errors import SECRET_KEY as SECRET_KEY

# ``masked`` and ``describe_range`` are part of this module's interface (check-config, plugins).
from core.config_errors import describe_range, describe_validation_error, unannotated
from core.config_errors import masked as masked
from core.logging import mask_credentials

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class ConfigError(Exception):
    """A configuration problem a user can fix; printed without a traceback, exit status 2.
    The message never shows a URL's password (masked here, whoever raises it)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(mask_credentials(str(message)))


ROLES: tuple[str, ...] = ("all", "engines", "worker")
Role = Literal["all", "engines", "worker"]


class KernelConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Seconds that in-flight deliveries get to finish after SIGINT/SIGTERM (0 to 3600).
    grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    #: Exit once every session's source has ended and every delivery is final (replays).
    exit_when_done: bool = False
    #: Bound of each subscriber's memory stream on the bus (1 to 1,000,000 events).
    bus_buffer: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000
    #: ``environment.worker.id`` in envelopes (``HOOKWIRE_WORKER_ID`` overrides).
    worker_id: str | None = None
    #: Directory for durable state (``HOOKWIRE_DATA_DIR`` overrides).
    data_dir: str = ".hookwire"
    #: ``all``: sessions and delivery in one process. ``engines``: run the sessions and write
    #: deliveries to the store, deliver nothing. ``worker``: run no session, only deliver from
    #: the store (``--role``, then ``HOOKWIRE_ROLE``, override).
    role: Role = "all"


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


#: A sandbox's ack delay (ms); the read ack may also be -1 (never read).
AckDelayMs = Annotated[int, msgspec.Meta(ge=0, le=600_000)]
ReadAckMs = Annotated[int, msgspec.Meta(ge=-1, le=600_000)]


class SessionSandbox(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How a sandbox session (``source = "sandbox"``) plays the phone on the other end: the
    acknowledgements of a sent message come this long after the send (ms, 0-600000 each;
    ``read_ack_ms = -1``: the message is never read), a recording may seed it, and what it
    emitted may be appended to a file."""

    server_ack_ms: AckDelayMs = 50
    device_ack_ms: AckDelayMs = 150
    read_ack_ms: ReadAckMs = 500
    #: A recording of native records (the engine's shape) played when the session starts.
    seed: str | None = None
    #: Every native record the sandbox makes is appended to this JSONL file.
    record: str | None = None
    #: How many of its last native records it keeps for ``GET /api/sandbox/{session}/recording``.
    keep_records: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 10_000


class SessionConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One WhatsApp session: which engine, where its native records come from."""

    name: str = "default"
    engine: str = "WEBJS"
    #: ``replay``: a JSONL recording; ``bridge``: the engine's live bridge process;
    #: ``sandbox``: a session without a phone (WORKING at once, sends answered, inbound
    #: messages injected; see :class:`SessionSandbox`).
    source: Literal["replay", "bridge", "sandbox"] = "replay"
    #: The recording (relative paths are relative to the config file).
    replay: str | None = None
    #: ``max``: as fast as possible; ``recorded``: paced by the records' ``ts`` (ms).
    pace: Literal["max", "recorded"] = "max"
    #: ``continue``: a replay restarted on the same data dir and file continues its run, its
    #: events keep their ids; ``new``: every start is a new run, with new ids
    #: (``engines/common/replay_runs.py``).
    replay_run: Literal["continue", "new"] = "continue"
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
    #: ``source = "sandbox"``: how the sandbox behaves.
    sandbox: SessionSandbox = msgspec.field(default_factory=SessionSandbox)

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
        """``[kernel] data_dir``, as overridden by ``HOOKWIRE_DATA_DIR`` when loaded."""
        return Path(self.core.kernel.data_dir).expanduser()


_CORE_KEYS = ("kernel", "log", "sessions")


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    if environ.get("HOOKWIRE_CONFIG"):
        return Path(environ["HOOKWIRE_CONFIG"])
    return DEFAULT_CONFIG_PATH


#: A config file larger than this is refused (no real one comes near).
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def _read_config_bytes(path: Path) -> bytes:
    """The file's bytes: a regular file only (a FIFO or a device would block or never end),
    opened without blocking, at most :data:`MAX_CONFIG_BYTES`."""
    shown = repr(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"config file {shown} does not exist") from None
    except (OSError, ValueError) as exc:  # permission denied, a loop of links, a NUL in the path …
        raise ConfigError(f"config file {shown} cannot be read: {_reason(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"config file {shown} is a directory")
        if not stat.S_ISREG(mode):
            raise ConfigError(f"config file {shown} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file {shown} cannot be read: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {shown} is larger than {MAX_CONFIG_BYTES} bytes")
    return data


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML as builtins; :class:`ConfigError` with the path and the reason when it
    cannot be read (missing, a directory, no permission …), is not UTF-8 or not TOML."""
    shown = repr(str(path))
    data = _read_config_bytes(path)
    try:
        text = data.decode("utf-8-sig")  # an editor's byte-order mark is no error
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {shown} is not valid UTF-8: byte 0x{data[exc.start]:02x} "
                          f"at line {line} (TOML files are UTF-8)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {shown} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {shown} is not valid TOML: arrays or tables nested too "
                          "deeply") from None


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
    data_dir_source = "HOOKWIRE_DATA_DIR" if environ.get("HOOKWIRE_DATA_DIR") else f"{path}: kernel.data_dir"
    data_dir = environ.get("HOOKWIRE_DATA_DIR") or core.kernel.data_dir
    try:
        problem = unusable_directory(Path(data_dir).expanduser())
    except RuntimeError as exc:  # ``~user`` of no such user
        problem = str(exc)
    if problem is not None:
        raise ConfigError(f"{data_dir_source}: the data directory {data_dir!r} cannot be used: {problem}")
    core.kernel.data_dir = data_dir
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
            try:
                replay = Path(session.replay).expanduser()
                replay = replay if replay.is_absolute() else path.parent.resolve() / replay
                missing = session.source == "replay" and not replay.is_file()
            except (RuntimeError, ValueError, OSError) as exc:  # ``~nobody``, a NUL in the path …
                raise ConfigError(f"{path}: sessions[{index}].replay: {session.replay!r}: {_reason(exc)}") from None
            if missing:
                raise ConfigError(f"{path}: sessions[{index}].replay: no such file {str(replay)!r}")
            session.replay = str(replay)
        for key in ("seed", "record"):  # a sandbox's files, relative to the config file too
            value = getattr(session.sandbox, key)
            if value:
                resolved = Path(value).expanduser()
                resolved = resolved if resolved.is_absolute() else path.parent.resolve() / resolved
                if key == "seed" and session.source == "sandbox" and not resolved.is_file():
                    raise ConfigError(f"{path}: sessions[{index}].sandbox.seed: no such file "
                                      f"{str(resolved)!r}")
                setattr(session.sandbox, key, str(resolved))
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
        except RecursionError:
            raise ConfigError(f"{path}: {section.name}: nested too deeply") from None
        except Exception as exc:  # a plugin's hook must not turn a bad value into a traceback
            raise ConfigError(f"{path}: {section.name}: {type(exc).__name__}: {exc}") from None
        values[section.name] = value
    return Config(core=core, sections=values, path=str(path), base_dir=str(path.parent.resolve()))


def unusable_directory(path: Path) -> str | None:
    """Why hookwire could not keep files in directory ``path`` (created when missing), or
    ``None``. Nothing is created: the nearest existing directory must take a new file (probed
    with an unnamed temporary file, so a read-only mount or an ACL is seen as the kernel sees it,
    whoever runs this)."""
    probe = path
    while True:
        try:
            mode = probe.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            if probe.parent == probe:
                return f"{str(probe)!r} does not exist"
            probe = probe.parent
            continue
        except (OSError, ValueError) as exc:  # no permission, a NUL in the path …
            return f"{str(probe)!r}: {_reason(exc)}"
        break
    if not stat.S_ISDIR(mode):
        what = "it is a file" if probe == path else f"{str(probe)!r} is a file"
        return f"{what}, not a directory"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        where = "in it" if probe == path else f"in {str(probe)!r} (to create it)"
        return f"files cannot be created {where}: {_reason(exc)}"
    return None


def convert(raw: Any, type_: Any, source: str, prefix: str) -> Any:
    """``msgspec.convert`` with errors rewritten to name the key path and the bad value."""
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, raw, source, prefix, type_)) from None
    except RecursionError:
        raise ConfigError(f"{source}: {prefix or '<top level>'}: nested too deeply") from None


def env_number(environ: Mapping[str, str], var: str, type_: Any) -> Any:
    """The number in environment variable ``var``, converted to ``type_`` (``int`` or
    ``float``, usually ``Annotated`` with a range); :class:`ConfigError` naming the variable,
    the range and the value otherwise. Use the same ``type_`` as the config key it sets."""
    text = environ[var].strip()
    base = unannotated(type_)
    expected = describe_range(type_) or ("an integer" if base is int else "a number")
    try:
        value = int(text) if base is int else float(text)
        return msgspec.convert(value, type_)
    except (ValueError, msgspec.ValidationError):
        raise ConfigError(f"{var}: expected {expected}, found {text!r}") from None
