"""Integration fixtures: a migrated container on each database (``db_url``), its sandbox
provider running in-process (``provider_app``), disposed of after the test; the same with a
recording CRM and an admin token (``admin_stack``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from inkbridge.bootstrap import Container
from inkbridge.services.tokens import create_token
from tests.support.builders import sandbox_container, sandbox_provider_app
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination


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


@pytest.fixture
def admin_stack(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, dict[str, str]]]:
    """A container whose destination ``crm`` is a ``RecordingConnector``, with the headers of
    an admin token."""
    built = sandbox_container(tmp_path, db_url)
    add_fake_destination(built, "crm", RecordingConnector())
    _, token = create_token(built.databases, "test", ["admin"])
    yield built, {"Authorization": f"Bearer {token}"}
    built.databases.dispose()
