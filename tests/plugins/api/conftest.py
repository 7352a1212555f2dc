"""Fixtures of the API tests: the real server in-process on a free loopback port
(``api_service.py``); receivers and the SCRIPTED engine come from ``tests/plugins/webhook``."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]

# As in tests/plugins/webhook/conftest.py: the repository root first on ``sys.path``, so that
# ``tests/plugins`` is not imported as a namespace package ``plugins`` shadowing the real one.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
for _name in ("core", "plugins", "engines"):
    if _name in sys.modules and getattr(sys.modules[_name], "__file__", "") is None:
        del sys.modules[_name]
for _path in (HERE, HERE.parent / "webhook"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
