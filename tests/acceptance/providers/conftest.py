"""Provider acceptance fixtures: one ``inkbridge serve`` process and the six vendor emulators,
started once for this folder's modules (they run in name order; the last checks that no emulator
gave up on a delivery)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.acceptance.provider_stack import ProviderStack, iter_stack


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderStack]:
    yield from iter_stack(tmp_path_factory.mktemp("providers"))
