"""Whatever config file and environment a user gives, ``check-config`` ends in exit status 0 or 2
within seconds: never a traceback, never a hang. Property-based (hypothesis) over generated
configs (every table and key of the real schema with extreme numbers, wrong types, control
characters, credentials in URLs; mutations of ``config/example.toml``; garbage bytes) and the
environment variables hookwire reads. In-process through ``core.cli.main`` with a controlled
environment, and a few runs of ``python -m core`` in a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.cli import main
from core.config import KernelConfig, LogConfig, SessionConfig
from plugins.api.config import ApiConfig
from plugins.webhook.config import DeliveryConfig, WebhookConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO_ROOT / "config" / "example.toml").read_text(encoding="utf-8")
#: A run slower than this counts as a hang (generous: the machine is shared).
SECONDS = 10.0
_ISOLATED = ("HOOKWIRE_", "WHATSAPP_")

# -- TOML text --------------------------------------------------------------------------------


def toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii() else toml_string(key)


def toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                         else f"\\U{ord(c):08x}" for c in escaped) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):  # TOML has no null: a None is left out
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None) + " }"


def toml_table(header: str, values: Mapping[str, Any]) -> str:
    return header + "\n" + "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in values.items()
                                    if v is not None)


# -- values -----------------------------------------------------------------------------------

EXTREME_INTS = [0, -1, 1, 2**31, 2**63, 2**64, 10**14, 100_000_000, 10**30, -(10**30)]
EXTREME_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, 1e12, 1e308, 0.5]
TEXTS = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
URLS = st.sampled_from([
    "https://example.com/hook", "http://user:pa55word@example.com/h", "http://127.0.0.1./",
    "http://%31%32%37.0.0.1/", "http://exa mple.com/", "https://example.com/\r\nX: 1", "ftp://x/",
    "http://[::1]/", "http://localhost:0/", "https://" + "a" * 3000 + ".com/", "redis://:pw@h:1/0",
    "unix:///tmp/x.sock", "http://１２７.０.０.１/", "",
])
SCALARS = st.one_of(
    st.sampled_from(EXTREME_INTS), st.integers(), st.sampled_from(EXTREME_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), TEXTS, URLS,
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXTS, inner, max_size=3)), max_leaves=6)


def _field_values(struct: type[msgspec.Struct]) -> dict[str, st.SearchStrategy[Any]]:
    """Per key of ``struct``: its default (a good value, so validation goes deeper), something
    of its kind but extreme, or anything at all."""
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for field in msgspec.structs.fields(struct):
        default = field.default if field.default is not msgspec.NODEFAULT else None
        if field.default_factory is not msgspec.NODEFAULT:
            default = msgspec.to_builtins(field.default_factory())
        options = [st.just(default)] if default is not None else []
        text = str(field.type)
        if "float" in text:
            options.append(st.sampled_from(EXTREME_FLOATS))
        if "int" in text:
            options.append(st.sampled_from(EXTREME_INTS))
        if "list" in text:
            options.append(st.lists(SCALARS, max_size=3))
        options.append(VALUES)
        strategies[field.encode_name] = st.one_of(*options)
    return strategies


def table(struct: type[msgspec.Struct], base: Mapping[str, Any] | None = None) -> st.SearchStrategy[dict]:
    fields = _field_values(struct)
    keys = st.sampled_from([*fields, "bogus_key"])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        values = dict(base or {})
        for key in draw(st.lists(keys, max_size=4, unique=True)):
            values[key] = draw(fields.get(key, VALUES))
        return values

    return build()


SESSION = {"name": "s1", "engine": "WEBJS", "source": "bridge"}
WEBHOOK = {"url": "https://example.com/hook", "events": ["message"]}


@st.composite
def structured_configs(draw: st.DrawFn) -> str:
    parts = []
    for header, struct in (("[kernel]", KernelConfig), ("[log]", LogConfig), ("[delivery]", DeliveryConfig),
                           ("[api]", ApiConfig)):
        if draw(st.booleans()):
            parts.append(toml_table(header, draw(table(struct))))
    for index in range(draw(st.integers(0, 2))):
        parts.append(toml_table("[[sessions]]", draw(table(SessionConfig, {**SESSION, "name": f"s{index}"}))))
    for index in range(draw(st.integers(0, 2))):
        parts.append(toml_table("[[webhooks]]", draw(table(WebhookConfig, {**WEBHOOK, "name": f"w{index}"}))))
    return "\n".join(parts)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    """``config/example.toml`` with one value replaced, or cut short anywhere."""
    lines = EXAMPLE.splitlines()
    settable = [i for i, line in enumerate(lines) if " = " in line and not line.lstrip().startswith("#")]
    if draw(st.booleans()):
        index = draw(st.sampled_from(settable))
        key = lines[index].split(" = ", 1)[0]
        lines[index] = f"{key} = {toml_value(draw(VALUES))}"
        return "\n".join(lines) + "\n"
    return EXAMPLE[:draw(st.integers(0, len(EXAMPLE)))]


CONFIG_TEXT = st.one_of(structured_configs(), mutated_example(), TEXTS)
CONFIG_BYTES = st.one_of(CONFIG_TEXT.map(lambda text: text.encode("utf-8")), st.binary(max_size=200))

ENV_NAMES = [
    "WHATSAPP_HOOK_URL", "WHATSAPP_HOOK_EVENTS", "WHATSAPP_HOOK_HMAC_KEY", "WHATSAPP_HOOK_RETRIES_POLICY",
    "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "WHATSAPP_HOOK_RETRIES_ATTEMPTS", "WHATSAPP_HOOK_CUSTOM_HEADERS",
    "WHATSAPP_HOOK_SECRET", "WHATSAPP_HOOK_TIMEOUT_SECONDS", "WHATSAPP_API_KEY", "WHATSAPP_API_PORT",
    "WHATSAPP_API_HOSTNAME", "HOOKWIRE_DATA_DIR", "HOOKWIRE_WORKER_ID", "HOOKWIRE_ROLE",
]
ENV_TEXT = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e12", "1000000000000", "99999999999999999999",
                     "0x10", "1_000", " 7 ", "message", "*", "message,nope", "X-A: 1; X-Webhook-Event: 2",
                     "X-A: a\rb", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!", "worker", "nope"]),
    URLS.filter(lambda url: "\x00" not in url), st.text(st.characters(exclude_categories=("Cs",),
                                                                      exclude_characters="\x00"), max_size=20),
)
ENVIRONS = st.one_of(
    st.dictionaries(st.sampled_from(ENV_NAMES), ENV_TEXT, max_size=4),
    st.dictionaries(st.sampled_from(ENV_NAMES), ENV_TEXT, max_size=3).map(
        lambda env: {"WHATSAPP_HOOK_URL": "https://example.com/hook", "WHATSAPP_HOOK_EVENTS": "message", **env}),
)


# -- running it -------------------------------------------------------------------------------

@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` without any hookwire variable but ``values``, restored afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_ISOLATED)}
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith(_ISOLATED)]:
            del os.environ[name]
        os.environ.update(saved)


@contextlib.contextmanager
def config_dir() -> Iterator[Path]:
    """A fresh directory, the working directory meanwhile, with the recording example.toml names."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="hookwire-property-") as name:
        directory = Path(name)
        (directory / "recordings").mkdir()
        (directory / "recordings" / "webjs-demo.jsonl").write_text("")
        os.chdir(directory)
        try:
            yield directory
        finally:
            os.chdir(previous)


def assert_clean_end(status: int, out: str, err: str, seconds: float, limit: float = SECONDS) -> None:
    assert seconds < limit, f"took {seconds:.1f} s"
    assert status in (0, 2), (status, err)
    assert "Traceback" not in err, err
    assert "pa55word" not in out + err, out + err  # a URL's password is never shown
    if status == 2:
        assert err.rstrip("\n").splitlines()[-1].startswith("hookwire: "), err
    else:
        assert out.startswith("# ") and " OK " in out.splitlines()[0], out


def check_config_in_process(data: bytes, env: Mapping[str, str]) -> None:
    with config_dir() as directory, environment(env):
        config = directory / "hookwire.toml"
        config.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--config", str(config), "check-config"])
        event(f"exit status {status}")
        assert_clean_end(status, out.getvalue(), err.getvalue(), time.monotonic() - started)


PROPERTY = settings(max_examples=150, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(data=CONFIG_BYTES, env=ENVIRONS)
def test_any_config_and_environment_end_in_status_0_or_2_quickly(data, env):
    check_config_in_process(data, env)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=ENVIRONS)
def test_any_environment_over_the_example_config_ends_in_status_0_or_2(env):
    check_config_in_process(EXAMPLE.encode("utf-8"), env)


def test_the_example_config_itself_is_valid():
    with config_dir() as directory, environment({}):
        (directory / "hookwire.toml").write_text(EXAMPLE, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert main(["--config", str(directory / "hookwire.toml"), "check-config"]) == 0, err.getvalue()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=CONFIG_BYTES, env=ENVIRONS)
def test_real_subprocesses_end_in_status_0_or_2(data, env):
    with config_dir() as directory:
        config = directory / "hookwire.toml"
        config.write_bytes(data)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED)}
        environ.pop("PYTHONPATH", None)
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "core", "--config", str(config), "check-config"],
                                  cwd=directory, env={**environ, **env}, capture_output=True, text=True,
                                  timeout=60, check=False)
        except subprocess.TimeoutExpired:  # subprocess.run killed it
            pytest.fail(f"python -m core check-config hung on {data[:200]!r} with {env!r}")
        # a process starts (imports, plugins) in about a second; a hang would hit the timeout
        assert_clean_end(done.returncode, done.stdout, done.stderr, time.monotonic() - started, 3 * SECONDS)
