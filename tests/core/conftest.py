"""Fixtures of the kernel's tests.

``third_party_plugins`` installs the two test distributions of ``tests/plugins/`` for real
(pip, into a temporary ``--target`` directory), so the loader meets them the way it meets a
stranger's plugin: through ``importlib.metadata`` entry points. ``run_core`` runs
``python -m core`` in a subprocess with that directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import structlog

PLUGIN_SOURCES = Path(__file__).resolve().parent.parent / "plugins"
REPO_ROOT = Path(__file__).resolve().parents[2]

# pytest's default import mode puts ``tests/`` on ``sys.path`` (``tests/conftest.py`` has no
# package), so the directory ``tests/core`` would be imported as a namespace package named
# ``core``, shadowing the real one (the editable install finds it only through a meta-path
# finder, consulted after ``sys.path``). The repository root first on the path avoids that;
# ``pythonpath = ["."]`` in the pytest config would do the same for the whole suite.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
if getattr(sys.modules.get("core"), "__file__", "") is None:
    del sys.modules["core"]

#: Variables that would change what a ``python -m core`` subprocess does.
_ISOLATED_PREFIXES = ("HOOKWIRE_", "WHATSAPP_HOOK_", "HELLO_PLUGIN_")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``configure_logging`` (called by ``main``) changes process-wide state: undo it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture(scope="session")
def third_party_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``hookwire-hello-plugin`` and ``hookwire-broken-plugin``, installed.

    The sources are copied first: setuptools builds in the source tree and would leave
    ``build/`` and ``*.egg-info`` next to the test plugins.
    """
    import importlib.metadata

    setuptools_version = tuple(int(p) for p in importlib.metadata.version("setuptools").split(".")[:2])
    assert setuptools_version >= (70, 1), (
        "building the test plugins without build isolation needs setuptools>=70.1 in the test "
        "environment (older ones need the `wheel` package for bdist_wheel)")
    sources = tmp_path_factory.mktemp("plugin-sources")
    copies = []
    for name in ("hello_plugin", "broken_plugin"):
        copy = sources / name
        shutil.copytree(PLUGIN_SOURCES / name, copy,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        copies.append(str(copy))
    target = tmp_path_factory.mktemp("site-packages")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--target", str(target), *copies],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    return target


@pytest.fixture
def installed(third_party_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test distributions, visible in-process to ``importlib.metadata`` via ``sys.path``."""
    monkeypatch.syspath_prepend(str(third_party_plugins))
    yield third_party_plugins
    for name in [m for m in sys.modules if m.startswith(("hookwire_hello", "hookwire_broken"))]:
        del sys.modules[name]


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED_PREFIXES)}
    env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


RunCore = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_core(third_party_plugins: Path, tmp_path: Path) -> RunCore:
    """``run_core(*args, env={...}, plugins=True)``: ``python -m core ARGS`` in ``tmp_path``."""

    def run(*args: str, env: Mapping[str, str] | None = None, plugins: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        environ = clean_environ(env)
        if plugins:
            environ["PYTHONPATH"] = str(third_party_plugins)
        return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True,
                              text=True, cwd=tmp_path, env=environ, timeout=timeout, check=False)

    return run


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[str], Path]:
    """``config_file(toml_text)``: a config file in ``tmp_path``."""
    counter = iter(range(1000))

    def make(text: str, name: str | None = None) -> Path:
        return write_config(tmp_path / (name or f"config-{next(counter)}.toml"), text)

    return make

