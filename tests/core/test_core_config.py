"""The config: TOML into Structs, plugin sections, env overrides, and errors a user can act on."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from core import hookimpl
from core.app import App
from core.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    ConfigSection,
    CoreConfig,
    config_path,
    load_config,
    masked,
)
from core.engine import EngineType


class RelayConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A plugin's section, shaped like the webhook plugin's."""

    url: str | None = None
    secret: str | None = None
    retries: int = 3
    mode: Literal["fast", "safe"] = "safe"
    events: list[str] = msgspec.field(default_factory=lambda: ["*"])
    routes: list[dict[str, int]] = []


def relay_from_env(raw: Any, environ: Mapping[str, str]) -> Any:
    if "RELAY_RETRIES" in environ:
        return {**raw, "retries": int(environ["RELAY_RETRIES"])}  # int("x") raises ValueError
    return raw


def relay_check(value: RelayConfig, event_names: Collection[str]) -> None:
    for name in value.events:
        if name != "*" and name not in event_names:
            raise ConfigError(f"relay.events: unknown event {name!r}")


RELAY = ConfigSection(name="relay", type=RelayConfig, default={}, from_env=relay_from_env,
                      check=relay_check)
NAMES = ["message", "message.any"]


def load(tmp_path: Path, text: str, environ: Mapping[str, str] | None = None,
         sections: Collection[ConfigSection] = (RELAY,)):
    path = tmp_path / "hookwire.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "x").touch()  # the recording the sessions below name; replays must exist
    return load_config(path, sections, NAMES, environ or {})


def error(tmp_path: Path, text: str, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, **kwargs)
    return str(info.value)


GOOD = """
[kernel]
grace_seconds = 2.5
bus_buffer = 64
exit_when_done = true

[log]
format = "json"
level = "debug"

[[sessions]]
name = "default"
engine = "WEBJS"
replay = "recordings/a.jsonl"
metadata = { "user.id" = "123" }

[[sessions]]
name = "second"
engine = "NOWEB"
source = "bridge"

[relay]
url = "http://127.0.0.1:9/hook"
secret = "s3cret"
mode = "fast"
"""


def test_toml_becomes_typed_structs(tmp_path):
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "a.jsonl").touch()
    config = load(tmp_path, GOOD)
    assert isinstance(config.core, CoreConfig)
    assert config.core.kernel.grace_seconds == 2.5
    assert config.core.kernel.bus_buffer == 64
    assert config.core.kernel.exit_when_done is True
    assert config.core.log.format == "json" and config.core.log.level == "debug"
    first, second = config.core.sessions
    assert (first.name, first.engine, first.source, first.pace) == ("default", "WEBJS", "replay", "max")
    assert first.metadata == {"user.id": "123"}
    assert (second.name, second.source, second.replay) == ("second", "bridge", None)
    relay = config.section("relay")
    assert relay == RelayConfig(url="http://127.0.0.1:9/hook", secret="s3cret", mode="fast")
    assert config.path == str(tmp_path / "hookwire.toml")
    # a replay is resolved against the config file's directory
    assert first.replay == str(tmp_path.resolve() / "recordings" / "a.jsonl")
    assert config.resolve_path("rel/file") == tmp_path.resolve() / "rel" / "file"
    assert config.resolve_path("/abs/file") == Path("/abs/file")


def test_defaults_apply_and_environment_overrides(tmp_path, monkeypatch):
    config = load(tmp_path, "", environ={"RELAY_RETRIES": "9", "HOOKWIRE_WORKER_ID": "w-2",
                                         "HOOKWIRE_DATA_DIR": str(tmp_path / "state")})
    assert config.core.sessions == []
    assert config.core.kernel.grace_seconds == 10.0
    assert config.core.kernel.worker_id == "w-2"
    assert config.section("relay").retries == 9
    assert config.data_dir == tmp_path / "state"
    assert config.core.kernel.data_dir == str(tmp_path / "state")  # what check-config prints
    monkeypatch.setenv("HOOKWIRE_DATA_DIR", str(tmp_path / "later"))  # read once, when loaded
    assert config.data_dir == tmp_path / "state"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 1", ["unknown key `colour`", "kernel, log, relay, sessions"]),
        ("[kernel]\nbus_bufer = 5", ["kernel.bus_bufer", "unknown key `bus_bufer`"]),
        ("[[sessions]]\nname = 'a'\nreplay = 'x'\nbogus = 1", ["sessions[0].bogus", "unknown key"]),
        ("[relay]\nurll = 'x'", ["relay.urll", "unknown key"]),
    ],
)
def test_an_unknown_key_is_named_with_its_path(tmp_path, text, expected):
    message = error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'hookwire.toml'}: ")
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("text", "path", "expected", "found"),
    [
        ("[kernel]\nbus_buffer = 'lots'", "kernel.bus_buffer",
         "expected an integer >= 1 and <= 1000000, got `str`", "'lots'"),
        ("[kernel]\nworker_id = 5", "kernel.worker_id", "expected `str | null`", "5"),
        ("sessions = { name = 'a' }", "sessions", "expected `array`", "{'name': 'a'}"),
        ("[[sessions]]\nname = 'a'\nreplay = 'x'\nmetadata = { k = 1 }", "sessions[0].metadata.k",
         "expected `str`", "1"),
        ("[relay]\nretries = 'three'", "relay.retries", "expected `int`", "'three'"),
        ("[relay]\nroutes = [{ a = 1 }, { b = 'x' }]", "relay.routes[1].b", "expected `int`", "'x'"),
    ],
)
def test_a_wrong_type_names_the_path_the_expectation_and_the_value(tmp_path, text, path, expected, found):
    message = error(tmp_path, text)
    assert f": {path}: " in message, message
    assert expected in message, message
    assert f"(found {found})" in message, message


@pytest.mark.parametrize(
    ("text", "path", "allowed", "found"),
    [
        ("[log]\nlevel = 'verbose'", "log.level", ["'debug'", "'info'", "'warning'", "'error'"], "'verbose'"),
        ("[log]\nformat = 'xml'", "log.format", ["'auto'", "'console'", "'json'"], "'xml'"),
        ("[[sessions]]\nname = 'a'\nreplay = 'x'\nsource = 'tcp'", "sessions[0].source",
         ["'replay'", "'bridge'"], "'tcp'"),
        ("[relay]\nmode = 'turbo'", "relay.mode", ["'fast'", "'safe'"], "'turbo'"),
    ],
)
def test_a_bad_literal_lists_what_is_allowed(tmp_path, text, path, allowed, found):
    message = error(tmp_path, text)
    assert f": {path}: " in message, message
    for value in allowed:
        assert value in message, message
    assert found in message, message


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("[kernel]\ngrace_seconds = -1", ["kernel.grace_seconds: expected a number >= 0 and <= 3600",
                                         "(found -1)"]),
        ("[kernel]\nbus_buffer = 0", ["kernel.bus_buffer: expected an integer >= 1 and <= 1000000",
                                      "(found 0)"]),
        ("[[sessions]]\nname = 'a b'\nreplay = 'x'", ["sessions[0]", "'a b'", "A-Z a-z 0-9 _ . -"]),
        ("[[sessions]]\nname = 'a'", ["sessions[0]", "'a'", "needs `replay`"]),
    ],
)
def test_a_value_out_of_range_is_named(tmp_path, text, parts):
    message = error(tmp_path, text)
    for part in parts:
        assert part in message, message


def test_a_duplicate_session_name_is_named(tmp_path):
    text = "\n".join(f"[[sessions]]\nname = '{n}'\nreplay = 'x'" for n in ("a", "b", "a"))
    message = error(tmp_path, text)
    assert "sessions[2].name" in message, message
    assert "'a'" in message and "unique" in message, message


def test_a_plugin_check_and_environment_errors_are_config_errors(tmp_path):
    message = error(tmp_path, "[relay]\nevents = ['message', 'mesage']")
    assert "relay.events" in message and "'mesage'" in message
    # a plugin's env hook that raises something else still becomes one clear config error
    message = error(tmp_path, "", environ={"RELAY_RETRIES": "x"})
    assert "relay" in message and "invalid literal for int()" in message, message


def test_a_missing_recording_is_named(tmp_path):
    message = error(tmp_path, "[[sessions]]\nname = 'a'\nreplay = 'gone.jsonl'\n")
    assert f"sessions[0].replay: no such file {str(tmp_path.resolve() / 'gone.jsonl')!r}" in message


def test_a_missing_file_and_a_directory_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'.*nope\.toml' does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_a_toml_syntax_error_names_the_file_and_the_line(tmp_path):
    message = error(tmp_path, "[kernel]\ngrace_seconds = = 3\n")
    assert "hookwire.toml" in message and "not valid TOML" in message
    assert "line 2" in message, message


def test_an_unknown_engine_is_named_with_the_known_ones(tmp_path):
    class Engines:
        @hookimpl
        def hookwire_register_engines(self, registry):
            registry.add_engine(EngineType(name="ALPHA", create_session=lambda c: None,
                                           create_translator=lambda s, me_id, me_lid: None))

    app = App.load(extra_plugins=[("engines", Engines())], entry_points=False)
    path = tmp_path / "c.toml"
    (tmp_path / "x").touch()
    path.write_text("[[sessions]]\nname = 'ok'\nengine = 'ALPHA'\nreplay = 'x'\n"
                    "[[sessions]]\nname = 'bad'\nengine = 'BETA'\nreplay = 'x'\n")
    with pytest.raises(ConfigError) as info:
        app.load_config(path, environ={})
    message = str(info.value)
    assert "sessions[1].engine" in message and "'BETA'" in message and "known: ALPHA" in message


def test_config_path_prefers_the_option_then_the_environment_then_the_default():
    assert config_path("a.toml", {"HOOKWIRE_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"HOOKWIRE_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == DEFAULT_CONFIG_PATH


def test_masked_hides_secret_looking_keys_at_any_depth():
    value = {
        "url": "http://127.0.0.1/x",
        "hmac_key": "k",
        "secrets": ["whsec_a", "whsec_b"],
        "webhooks": [{"Authorization": "Bearer x", "api_key": "", "token": None, "n": 1}],
        "nested": {"password": "p", "name": "n"},
    }
    assert masked(value) == {
        "url": "http://127.0.0.1/x",
        "hmac_key": "***",
        "secrets": ["***", "***"],
        "webhooks": [{"Authorization": "***", "api_key": "", "token": None, "n": 1}],
        "nested": {"password": "***", "name": "n"},
    }
