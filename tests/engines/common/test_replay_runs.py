"""Replay runs (``engines/common/replay_runs.py``): which restart continues a run, and the ids
a run gives (``evt_`` + a lowercase ULID whose time part is the run's start)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec
from structlog.testing import capture_logs

from core.config import SessionConfig
from core.engine import Emission
from core.ulid import ulid_time_ms
from engines.common.replay_runs import ReplayRun

ULID_ID = re.compile(r"evt_[0-9abcdefghjkmnpqrstvwxyz]{26}")


def config(recording: Path, **changes: object) -> SessionConfig:
    fields: dict[str, object] = {"name": "s", "engine": "WEBJS", "replay": str(recording), "me_id": "1@c.us"}
    return SessionConfig(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_restart_continues_the_run_until_anything_that_makes_it_changes(tmp_path: Path) -> None:
    recording = tmp_path / "r.jsonl"
    recording.write_text('{"type": "ready"}\n')
    data = tmp_path / "data"
    first = ReplayRun.open(data, config(recording), recording)
    assert not first.resumed
    first.progress(40)
    first.save()
    again = ReplayRun.open(data, config(recording), recording)
    assert again.resumed and again.record.run_id == first.record.run_id
    assert again.record.lines_read == 40
    emission = Emission("message", None, key='["message","false_1@c.us_A"]')
    assert again.event_id(3, emission, 0) == first.event_id(3, emission, 0)

    # New runs: other settings, another data dir, an explicit new run, a changed file.
    for other in (ReplayRun.open(data, config(recording, me_id="2@c.us"), recording),
                  ReplayRun.open(tmp_path / "other-data", config(recording), recording),
                  ReplayRun.open(data, config(recording, replay_run="new"), recording)):
        assert not other.resumed and other.record.run_id != first.record.run_id
    latest = ReplayRun.open(data, config(recording), recording)  # the last one written, "new"
    assert latest.resumed
    os.utime(recording, ns=(1, 1))
    assert not ReplayRun.open(data, config(recording), recording).resumed


def test_a_finished_run_is_not_continued_and_an_unreadable_record_starts_afresh(tmp_path: Path) -> None:
    recording = tmp_path / "r.jsonl"
    recording.write_text("\n")
    data = tmp_path / "data"
    run = ReplayRun.open(data, config(recording), recording)
    run.finish()
    assert msgspec.json.decode((data / "replay-runs" / "s.json").read_bytes())["finished"] is True
    assert not ReplayRun.open(data, config(recording), recording).resumed
    (data / "replay-runs" / "s.json").write_text("{not json")
    with capture_logs() as logs:
        assert not ReplayRun.open(data, config(recording), recording).resumed
    assert [r["event"] for r in logs if r["log_level"] == "warning"] == [
        "unreadable replay run record: starting a new run"]
    # No data dir: ids for this process only, nothing written.
    assert ReplayRun.open(None, config(recording), recording).path is None


def test_ids_are_ulids_of_the_run_start_distinct_per_line_event_and_rank(tmp_path: Path) -> None:
    recording = tmp_path / "r.jsonl"
    recording.write_text("\n")
    run = ReplayRun.open(tmp_path / "data", config(recording), recording)
    keyed = Emission("message", None, key='["message","m1"]')
    plain = Emission("engine.event", None)
    ids = {run.event_id(line, emission, rank) for line in (0, 1, 2)
           for emission in (keyed, plain) for rank in (0, 1)}
    # A key stands for the rank: the keyed event has one id per line, the others one per rank.
    assert len(ids) == 3 * (1 + 2)
    assert all(ULID_ID.fullmatch(i) for i in ids)
    assert {ulid_time_ms(i[4:]) for i in ids} == {run.record.started_at}
