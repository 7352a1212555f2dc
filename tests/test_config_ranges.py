"""Every number a user can set has a declared, finite range: each ``int`` / ``float`` in the
config Structs of the kernel and of the first-party plugins carries a ``msgspec.Meta`` with a
lower and an upper bound (so ``nan``, ``inf`` and absurd sizes are refused at load), and
``config/example.toml`` documents every key, with the range of every number."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

from core.config import CoreConfig, describe_range
from plugins.api.config import ApiConfig
from plugins.webhook.config import DeliveryConfig, WebhookConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "example.toml"
#: The top-level tables and the Struct each one is decoded into.
SECTIONS: dict[str, Any] = {"kernel": None, "log": None, "sessions": None,
                            "webhooks": WebhookConfig, "delivery": DeliveryConfig, "api": ApiConfig}
SECTIONS.update({f.encode_name: f.type for f in msgspec.structs.fields(CoreConfig)})


def numbers(type_: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(key path, type)`` of every number a config type holds, at any depth."""
    origin = typing.get_origin(type_)
    if origin is Annotated:
        base = typing.get_args(type_)[0]
        if base in (int, float):
            yield path, type_
        else:
            yield from numbers(base, path)
    elif type_ in (int, float):
        yield path, type_
    elif origin in (typing.Union, types.UnionType):
        for member in typing.get_args(type_):
            yield from numbers(member, path)
    elif origin in (list, tuple, set, frozenset):
        yield from numbers(typing.get_args(type_)[0], path + "[]")
    elif origin is dict:
        yield from numbers(typing.get_args(type_)[1], path + ".*")
    elif isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        for field in msgspec.structs.fields(type_):
            yield from numbers(field.type, f"{path}.{field.encode_name}")


ALL_NUMBERS = [n for name, type_ in SECTIONS.items() for n in numbers(type_, name)]


def test_the_walk_finds_the_numbers():
    found = {path for path, _ in ALL_NUMBERS}
    assert {"kernel.bus_buffer", "webhooks.timeout_seconds", "webhooks.retries.schedule[]",
            "delivery.batch_size", "api.port"} <= found, found


@pytest.mark.parametrize(("path", "type_"), ALL_NUMBERS, ids=[p for p, _ in ALL_NUMBERS])
def test_every_number_has_a_finite_range(path, type_):
    assert typing.get_origin(type_) is Annotated, f"{path} has no declared range"
    metas = [m for m in typing.get_args(type_)[1:] if isinstance(m, msgspec.Meta)]
    lower = [m for m in metas if m.ge is not None or m.gt is not None]
    upper = [m for m in metas if m.le is not None or m.lt is not None]
    assert lower and upper, f"{path}: a range needs both bounds ({describe_range(type_)})"
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(value, type_)


def documented_keys() -> dict[str, str]:
    """``table.key`` -> its line, for every key ``config/example.toml`` sets or shows in a
    comment (``# key = …``), keys of inline tables and of sub-tables (``[webhooks.retries]``)
    included; a comment line that continues a key's line belongs to the key."""
    keys: dict[str, str] = {}
    table = last = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\[\[?([a-z_.]+)\]\]?", line)
        if header:
            table = last = header[1]
            keys.setdefault(table, line)
            continue
        setting = re.match(r"^#?\s*([a-z_]+) = (.*)$", line)
        if setting and table:
            last = f"{table}.{setting[1]}"
            keys[last] = line
            for inner in re.findall(r"([a-z_]+) = ", setting[2]):
                keys.setdefault(f"{table}.{setting[1]}.{inner}", line)
        elif re.match(r"^\s+#", line) and table:  # the key's comment, continued
            keys[last] += line
    return keys


def every_key(type_: Any, path: str) -> Iterator[str]:
    for member in (typing.get_args(type_) if typing.get_origin(type_) in (typing.Union, types.UnionType)
                   else (type_,)):
        while typing.get_origin(member) is Annotated:
            member = typing.get_args(member)[0]
        if typing.get_origin(member) is list:
            member = typing.get_args(member)[0]
        if isinstance(member, type) and issubclass(member, msgspec.Struct):
            for field in msgspec.structs.fields(member):
                if field.encode_name == "origin":  # set by hookwire, not by users
                    continue
                yield f"{path}.{field.encode_name}"
                if path.count(".") == 0 and field.encode_name in ("retries", "circuit_breaker"):
                    yield from every_key(field.type, f"{path}.{field.encode_name}")


def test_the_example_config_lists_every_key():
    documented = documented_keys()
    missing = [key for name, type_ in SECTIONS.items() for key in every_key(type_, name)
               if key not in documented]
    assert missing == [], f"config/example.toml lacks {missing}"


@pytest.mark.parametrize(("path", "type_"), ALL_NUMBERS, ids=[p for p, _ in ALL_NUMBERS])
def test_the_example_config_states_the_range_of_every_number(path, type_):
    key = path.replace("[]", "").removesuffix(".*")
    line = documented_keys()[key]
    metas = [m for m in typing.get_args(type_)[1:] if isinstance(m, msgspec.Meta)]
    bounds = [b for m in metas for b in (m.ge, m.gt, m.le, m.lt) if b is not None]
    for bound in bounds:
        shown = str(int(bound)) if float(bound).is_integer() else str(bound)
        assert re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d.])", line.replace("_", "")), (
            f"config/example.toml: the line of `{key}` does not state its range "
            f"({describe_range(type_)}): {line}")
