"""The provider clients alike (Documenso, DocuSeal, Acrobat Sign, PandaDoc): each test that asks
for ``vendor`` runs once per vendor, and ``world`` is that vendor's emulator behind its client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.provider_worlds import EmulatorWorld, emulator_world

from .client_vendors import VENDORS, ClientVendor


@pytest.fixture(params=VENDORS, ids=lambda vendor: vendor.name)
def vendor(request: pytest.FixtureRequest) -> ClientVendor:
    chosen: ClientVendor = request.param
    return chosen


@pytest.fixture
async def world(vendor: ClientVendor) -> AsyncIterator[EmulatorWorld[Any]]:
    async with emulator_world(
        vendor.receiver(), vendor.create_emulator, vendor.client, vendor.base_url
    ) as made:
        yield made
