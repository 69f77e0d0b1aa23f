"""Fixtures for end-to-end tests of the whole stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM
from tests.e2e.stack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "var")
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; without it the browser tests skip (fail in CI)."""
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("UCB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"UCB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return CHROMIUM
