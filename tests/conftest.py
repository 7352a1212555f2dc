"""Suite-wide fixtures. Tests run on anyio (auto mode) with the asyncio backend only:
pytest-aiohttp's fixtures are asyncio-based."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
