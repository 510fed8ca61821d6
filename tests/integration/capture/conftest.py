"""Capture endpoint fixtures: a container with an admin token and a publishable key, and one app
built over it, on each database or on SQLite only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import Capture, _capture


@pytest.fixture
def capture(tmp_path: Path, db_url: str) -> Iterator[Capture]:
    built = _capture(tmp_path, db_url)
    yield built
    built.container.databases.dispose()


@pytest.fixture
def capture_sqlite(tmp_path: Path, sqlite_url: str) -> Iterator[Capture]:
    built = _capture(tmp_path, sqlite_url)
    yield built
    built.container.databases.dispose()
