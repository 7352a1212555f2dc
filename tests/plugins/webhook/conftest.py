"""Fixtures of the webhook plugin's tests. The real parts they use live next to this file:
``webhook_receiver.py`` (a scriptable receiver), ``webhook_service.py`` (the service in-process,
its config, store and logs) and ``webhook_process.py`` (``python -m core`` as a subprocess).

Nothing here is mocked: receivers are aiohttp servers on 127.0.0.1, the service runs either
in-process (``App`` + ``Kernel`` with the plugin and the ``SCRIPTED`` test engine) or as a real
``python -m core`` subprocess, and the store is a real SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]

# pytest puts ``tests/`` on ``sys.path`` (``tests/conftest.py`` has no package), where
# ``tests/plugins`` would be found as a namespace package named ``plugins`` before the
# editable install's finder is asked for the real one. The repository root first avoids that
# (``tests/core/conftest.py`` does the same for ``core``).
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
for _name in ("core", "plugins", "engines"):
    if _name in sys.modules and getattr(sys.modules[_name], "__file__", "") is None:
        del sys.modules[_name]


@pytest.fixture(scope="session")
def scripted_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for ``PYTHONPATH`` in which ``python -m core`` finds the ``SCRIPTED`` engine
    the way it finds any third-party plugin: a ``*.dist-info`` with an entry point in group
    ``hookwire`` next to the module."""
    site = tmp_path_factory.mktemp("scripted-site")
    shutil.copy(HERE / "scripted_engine.py", site / "scripted_engine.py")
    info = site / "hookwire_scripted_engine-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hookwire-scripted-engine\nVersion: 0.0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[hookwire]\nscripted = scripted_engine\n", encoding="utf-8")
    return site
