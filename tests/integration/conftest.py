"""Integration fixtures: a migrated container on each database (``db_url``), its sandbox
provider running in-process (``provider_app``), disposed of after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from inkbridge.bootstrap import Container
from tests.support.builders import sandbox_container, sandbox_provider_app


@pytest.fixture
def provider_app() -> Starlette:
    """The in-process sandbox provider; its emitter is never started, so no webhook reaches
    inkbridge: tests store deliveries with ``store_delivery`` and read its status API."""
    return sandbox_provider_app()


@pytest.fixture
def container(tmp_path: Path, db_url: str, provider_app: Starlette) -> Iterator[Container]:
    built = sandbox_container(tmp_path, db_url, provider_app)
    yield built
    built.databases.dispose()
