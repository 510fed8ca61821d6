"""What every provider client (Documenso, DocuSeal, Acrobat Sign, PandaDoc) does alike against
its emulator: each terminal state reported by the status API and the last webhook, a refused
credential failing permanently, and a create repeated for one envelope id making one
envelope where the vendor keys it by that id."""

from __future__ import annotations

from typing import Any

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from tests.support.provider_worlds import (
    EmulatorWorld,
    assert_terminal_state_reported,
    each_terminal_action,
)

from .client_vendors import DOCUSEAL, PANDADOC, ClientVendor

World = EmulatorWorld[Any]


@each_terminal_action
async def test_fetch_status_maps_each_terminal_state(
    vendor: ClientVendor, world: World, action: str, terminal: EventType
) -> None:
    await assert_terminal_state_reported(world, vendor.spec(), action, terminal)


async def test_a_refused_credential_is_permanent(vendor: ClientVendor, world: World) -> None:
    with pytest.raises(PermanentError):
        await vendor.wrong_client(world.api).create_envelope(vendor.spec())


@pytest.mark.parametrize("vendor", [DOCUSEAL, PANDADOC], ids=lambda v: v.name, indirect=True)
async def test_create_is_idempotent_on_the_envelope_id(vendor: ClientVendor, world: World) -> None:
    first = await world.client.create_envelope(vendor.spec())
    again = await world.client.create_envelope(vendor.spec())

    assert again == first
    assert len(world.emulator.book.envelopes) == 1
