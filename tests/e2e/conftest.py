"""Fixtures of the end-to-end tests: the local stack on the session's migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.running import RunningStack, start_stack


@pytest.fixture
def stack(migrated: str, tmp_path: Path) -> Iterator[RunningStack]:
    running = start_stack(tmp_path, DATABASE_URL=migrated)
    yield running
    running.stop()
