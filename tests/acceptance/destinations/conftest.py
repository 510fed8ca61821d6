"""Destination acceptance fixtures: the stack (one ``inkbridge serve`` and every destination
emulator its own process), started once for this folder's modules, since starting it takes
seconds; tests use their own leads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.destination_stack import DestinationStack, start_destination_stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DestinationStack]:
    running = start_destination_stack(Path(tmp_path_factory.mktemp("destinations")))
    try:
        yield running
    finally:
        running.stop()
