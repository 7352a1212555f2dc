"""Replay runs: what makes a replay's envelope ids the same when it is restarted.

A *run* is one playing of a recording by one session. Its record, ``<data_dir>/replay-runs/
<session>.json``, holds a random run id, the time the run started and the identity of what is
played (the file: path, device, inode, size, modification time; the session settings that
change what its lines give: engine, ``me``, metadata). Every envelope id of the run is derived
from (run id, line number, the event's key or its name and rank within the line), with the
run's start time as the ULID time part (:func:`event_id`), so a replay restarted after a
crash or a ``kill -9`` gives each event the id it had.

A restarted replay continues the run while the record matches and is not finished. The run is
finished (the next replay is a new run with new ids) once the kernel stopped cleanly after the
replay read the whole file, or when the session was stopped on request; ``replay_run = "new"``
(``replay --new-run``), another file, other settings or another data dir start a new run too.

The record also keeps ``lines_read`` (written once a second, and each time it doubled): how
far the run got, at least. A restarted replay checks the store for the events of those lines and sends only the
missing ones; the store ignores an event id it already has either way.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

import msgspec

from core.config import SessionConfig
from core.engine import Emission
from core.logging import get_logger
from core.ulid import derived_event_id

log = get_logger("engines.replay")

#: How often (seconds) ``lines_read`` is written while a run plays.
SAVE_EVERY_SECONDS = 1.0
FORMAT = 1


class RunRecord(msgspec.Struct, kw_only=True):
    run_id: str
    #: Unix ms when the run started: the time part of its ids.
    started_at: int
    #: Hash of the file's identity and the session's settings (see the module doc).
    identity: str
    #: Lines the run has read, at least (a hint for the check against the store).
    lines_read: int = 0
    finished: bool = False
    format: int = FORMAT


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(RunRecord)


def identity(config: SessionConfig, path: Path) -> str:
    """What must be the same for a restarted replay to be the same run."""
    stat = path.stat()
    parts = (str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns,
             config.name, config.engine, config.me_id, config.me_lid, config.me_push_name,
             sorted((config.metadata or {}).items()))
    return hashlib.blake2b(_encoder.encode(parts), digest_size=16).hexdigest()


class ReplayRun:
    """The run of one replay session: its ids, and its record on disk (none without a data
    dir, or when it cannot be written: then ids hold for this process only)."""

    def __init__(self, record: RunRecord, path: Path | None, *, resumed: bool) -> None:
        self.record = record
        self.path = path
        self.resumed = resumed
        self._saved_at = time.monotonic()
        self._saved_lines = record.lines_read
        self._prefix = _encoder.encode(("replay", record.run_id))

    @classmethod
    def open(cls, data_dir: Path | None, config: SessionConfig, recording: Path) -> ReplayRun:
        ident = identity(config, recording)
        path = None if data_dir is None else Path(data_dir) / "replay-runs" / f"{config.name}.json"
        if path is not None and config.replay_run == "continue":
            found = _read(path)
            if found is not None and found.identity == ident and not found.finished:
                log.info("replay continues its run: same event ids", run_id=found.run_id,
                         lines_read=found.lines_read, run_record=str(path))
                return cls(found, path, resumed=True)
        record = RunRecord(run_id=secrets.token_hex(16), started_at=time.time_ns() // 1_000_000,
                           identity=ident)
        run = cls(record, path, resumed=False)
        run.save(durable=True)
        return run

    def event_id(self, line: int, emission: Emission, rank: int) -> str:
        """The id of ``emission``, the ``rank``-th of its name in line ``line`` (0: the
        session's start) of this run; its key, when it has one, stands for the rank, so an
        event a translator drops or adds on another pass does not shift the others."""
        which = emission.key if emission.key is not None else f"{emission.name}#{rank}"
        return derived_event_id(self.record.started_at,
                                self._prefix + _encoder.encode((line, emission.name, which)))

    def progress(self, lines_read: int) -> None:
        """Note how far the run got; written once a second, and whenever it doubled (so the
        first lines of a run are on disk early, and a long run costs a write a second)."""
        if lines_read > self.record.lines_read:
            self.record.lines_read = lines_read
            if (lines_read >= 2 * self._saved_lines
                    or time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS):
                self.save()

    def finish(self) -> None:
        if not self.record.finished:
            self.record.finished = True
            self.save(durable=True)
            log.info("replay run finished: a next replay is a new run", run_id=self.record.run_id)

    def save(self, *, durable: bool = False) -> None:
        self._saved_at, self._saved_lines = time.monotonic(), self.record.lines_read
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            with temporary.open("wb") as out:
                out.write(_encoder.encode(self.record))
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("cannot write the replay's run record: a restart will be a new run",
                        run_record=str(self.path), error=f"{type(exc).__name__}: {exc}")
            self.path = None


def _read(path: Path) -> RunRecord | None:
    try:
        return _decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, msgspec.MsgspecError) as exc:
        log.warning("unreadable replay run record: starting a new run", run_record=str(path),
                    error=f"{type(exc).__name__}: {exc}")
        return None
