"""A record nested deeper than the bound is one bad record: skipped, counted, logged with its
position, in the ``translate`` command (a real subprocess) and in a replay session (the real
kernel and engines); the records after it go through. The bound itself is exact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from core import hookimpl
from core.app import App
from core.kernel import Kernel
from engines.common.records import MAX_DEPTH, BadRecord, decode_record, nesting_depth

REPO_ROOT = Path(__file__).resolve().parents[3]
ME = "11111111111@c.us"


def deep(levels: int, type_: str = "message") -> bytes:
    """A record whose ``data`` nests ``levels`` arrays (the record itself is one level more)."""
    return b'{"type":"%s","data":' % type_.encode() + b"[" * levels + b"]" * levels + b"}"


def webjs_message(n: int) -> bytes:
    chat = "22222222222@c.us"
    ident = {"fromMe": False, "remote": chat, "id": f"DEEP{n:04d}", "_serialized": f"false_{chat}_DEEP{n:04d}"}
    data = {"id": ident, "body": f"after the deep one #{n}", "type": "chat", "timestamp": 1_790_000_000 + n,
            "from": chat, "to": ME, "fromMe": False, "hasMedia": False, "ack": 1,
            "_data": {"id": ident, "body": f"#{n}", "t": 1_790_000_000 + n}}
    return json.dumps({"type": "message", "data": data}).encode()


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_text = st.text(alphabet=st.sampled_from('ab[]{}"\\:,é\n\u2028'), max_size=6)
_json = st.recursive(st.none() | st.booleans() | st.integers() | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(_json, st.booleans())
def test_the_depth_is_exact_whatever_the_strings_hold(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(text) == _depth(value)
    assert nesting_depth(msgspec.json.encode(value)) == _depth(value)


def test_the_bound_is_the_record_object_plus_63_levels_of_data() -> None:
    assert decode_record(deep(MAX_DEPTH - 1)).type == "message"
    for levels in (MAX_DEPTH, 1000, 100_000):
        with pytest.raises(BadRecord) as caught:
            decode_record(deep(levels))
        assert caught.value.reason == f"not a native record: nested deeper than {MAX_DEPTH} levels"
    # Brackets in strings nest nothing; a long flat record is not deep.
    assert decode_record(b'{"type":"x","data":"' + b"[" * 5000 + b'"}').data == "[" * 5000
    flat = {"type": "x", "data": [{"id": {"user": str(n)}} for n in range(3000)]}
    assert decode_record(msgspec.json.encode(flat)).data == flat["data"]
    # Not JSON at all, however many brackets: still one BadRecord, never a RecursionError.
    with pytest.raises(BadRecord):
        decode_record(b'{"type":"x","data":' + b"[" * 100_000)


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB"])
def test_translate_skips_a_deep_record_and_translates_what_follows(tmp_path: Path, engine: str) -> None:
    source = tmp_path / "deep.jsonl"
    later = webjs_message(2) if engine == "WEBJS" else json.dumps({"type": "presence.update", "data": {
        "id": "22222222222@s.whatsapp.net", "presences": {"22222222222@s.whatsapp.net": {
            "lastKnownPresence": "composing"}}}}).encode()
    source.write_bytes(b"\n".join([later, deep(1000), deep(100_000, "messages.upsert"), later]) + b"\n")
    config = tmp_path / "hookwire.toml"
    config.write_text('[log]\nformat = "json"\n')
    done = subprocess.run([sys.executable, "-m", "core", "--config", str(config), "translate",
                           "--engine", engine, "--me", ME, str(source)],
                          cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert b"Traceback" not in done.stderr and b"RecursionError" not in done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4]
    assert [len(o["envelopes"]) > 0 for o in out] == [True, False, False, True]
    assert out[3]["envelopes"][0]["event"] == out[0]["envelopes"][0]["event"]
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith(b"{")]
    bad = [entry for entry in logs if entry["event"] == "bad native record skipped"]
    assert [(entry["position"], entry["error"], entry["bad_records"]) for entry in bad] == [
        ("line 2", f"not a native record: nested deeper than {MAX_DEPTH} levels", 1),
        ("line 3", f"not a native record: nested deeper than {MAX_DEPTH} levels", 2)]
    assert all(entry["level"] == "error" and entry["engine"] == engine for entry in bad)


class Collector:
    """A sink keeping every event (``block``: it must see all of them)."""

    name = "collector"
    events = frozenset({"*"})
    overflow = "block"

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def run(self, subscription: Any, *, task_status: Any) -> None:
        task_status.started()
        async for event in subscription:
            self.received.append(event)

    def begin_shutdown(self) -> None:
        pass

    @hookimpl
    def hookwire_register_sinks(self, registry: Any) -> None:
        registry.add_sink(self)


async def test_a_replay_session_emits_the_records_after_a_deep_one(tmp_path: Path) -> None:
    recording = tmp_path / "deep.jsonl"
    recording.write_bytes(b"\n".join([webjs_message(1), deep(1000), deep(5000), webjs_message(2),
                                      webjs_message(3)]) + b"\n")
    config = tmp_path / "hookwire.toml"
    config.write_text(f"[kernel]\nexit_when_done = true\ndata_dir = '{tmp_path / 'data'}'\n"
                      f"[[sessions]]\nname = 'deep'\nengine = 'WEBJS'\nreplay = '{recording}'\n"
                      f"me_id = '{ME}'\n")
    collector = Collector()
    app = App.load(extra_plugins=[("collector", collector)], block=["api", "webhook"])
    app.load_config(config, environ={})
    with capture_logs() as logs, anyio.fail_after(20):
        await Kernel(app).run(anyio.Event())
    bodies = [e.payload.body for e in collector.received if e.name == "message"]
    assert bodies == ["after the deep one #1", "after the deep one #2", "after the deep one #3"]
    bad = [r for r in logs if r["event"] == "bad native record skipped"]
    assert [r["position"] for r in bad] == ["deep.jsonl:2", "deep.jsonl:3"]
    assert not [r for r in logs if r["event"] in ("unit crashed, restarting", "unit failed: it crashed "
                                                  "again and again without progress; it is not restarted")]
    assert app.registry.kernel.engine_sessions["deep"].translator.bad_records == 2
