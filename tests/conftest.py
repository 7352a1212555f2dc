"""Suite-wide fixtures. Tests run on anyio (auto mode) with the asyncio backend only:
pytest-aiohttp's fixtures are asyncio-based. The suite is hermetic (``hermetic.py``): the
caller's ``HOOKWIRE_*``/``WHATSAPP_*``/``WAHA_*`` variables are cleared, and a test that leaves
a process behind fails."""

from __future__ import annotations

import pytest
from hermetic import (  # noqa: F401  (hooks and fixtures pytest finds by name)
    _hermetic_environment,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_teardown,
    pytest_unconfigure,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
