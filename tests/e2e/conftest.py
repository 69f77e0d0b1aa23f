"""Fixtures for end-to-end tests of the whole stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "var")
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()
