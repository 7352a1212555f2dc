"""A real ``redis-server`` for the tests of the Redis store, on 127.0.0.1.

``HOOKWIRE_TEST_REDIS_URL`` names a server to use (``.ci/run`` starts one). Without it, the
tests start their own ``redis-server`` on a free loopback port when the binary is installed
(``apt-get install redis-server``). With neither, the tests are skipped, except under CI
(``CI`` set), where that is a failure: the Redis backend must never go untested there.

Each test gets its own key prefix, so tests never see each other's keys on a shared server.
Readiness is the server's own "Ready to accept connections" line, never a sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

URL_VARIABLE = "HOOKWIRE_TEST_REDIS_URL"
REPO_ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str:
    """The ``redis-server`` binary, or skip (fail under CI)."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = ("redis-server is not installed (apt-get install redis-server) and "
                   f"{URL_VARIABLE} is not set")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


class RedisServer:
    """One ``redis-server`` process; ``durable``: append-only file, fsync on every write, so a
    restart (``stop`` then ``start``) keeps everything that was acknowledged."""

    def __init__(self, workdir: Path, *, durable: bool = False, port: int | None = None) -> None:
        self.binary = redis_binary()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.port = port or _free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.durable
                       else ["--appendonly", "no"])
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "notice", *persistence],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        seen = []
        for line in self.process.stdout:  # readiness: the server says so
            seen.append(line)
            if "Ready to accept connections" in line:
                # Keep reading its log, or a full pipe would stall the server.
                threading.Thread(target=self._discard, args=(self.process.stdout,), daemon=True).start()
                return
        raise RuntimeError("redis-server did not start:\n" + "".join(seen[-20:]))

    @staticmethod
    def _discard(stream: IO[str]) -> None:
        with stream:  # closed once the server exits
            for _ in stream:
                pass

    def stop(self) -> None:
        """SIGTERM: Redis finishes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture(scope="session", name="redis_url")
def redis_url_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server shared by the session's tests (separate key prefixes)."""
    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(name="redis_prefix")
def redis_prefix_fixture(request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix of the test's own; its keys on the shared server are deleted afterwards
    (a developer's own server, ``HOOKWIRE_TEST_REDIS_URL``, does not fill up with them)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    if "redis_url" in request.fixturenames:
        import redis

        with redis.Redis.from_url(request.getfixturevalue("redis_url")) as client:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start:start + 1000])

