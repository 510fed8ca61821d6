"""Each provider client's ``check_credentials`` (``inkbridge doctor``'s call) against its
emulator: the vendor's own harmless authenticated read, accepted with the credential the
vendor knows and refused with another, the call named and the credential never shown."""

from __future__ import annotations

from typing import Any

from inkbridge.vendor_http.credentials import ChecksCredentials, Verdict
from tests.support.provider_worlds import EmulatorWorld

from .client_vendors import ClientVendor

World = EmulatorWorld[Any]

# The call each client makes, by the path on the vendor's host.
CALLS = {
    "documenso": "GET /api/v2/envelope",
    "docuseal": "GET /templates",
    "acrobat_sign": "GET /api/rest/v6/baseUris",
    "pandadoc": "GET /public/v1/members/current",
}


async def test_the_credential_the_vendor_knows_is_accepted_naming_the_call(
    vendor: ClientVendor, world: World
) -> None:
    assert isinstance(world.client, ChecksCredentials)

    result = await world.client.check_credentials()

    assert result.verdict is Verdict.ACCEPTED, result
    assert result.detail == f"{CALLS[vendor.name]}: 200"


async def test_a_credential_the_vendor_refuses_is_refused_and_never_shown(
    vendor: ClientVendor, world: World
) -> None:
    wrong = vendor.wrong_client(world.api)

    result = await wrong.check_credentials()

    assert result.verdict is Verdict.REFUSED, result
    assert result.detail.startswith(f"{CALLS[vendor.name]}: credentials refused")
    assert vendor.credential not in result.detail


async def test_the_check_creates_nothing_at_the_vendor(vendor: ClientVendor, world: World) -> None:
    await world.client.check_credentials()
    await vendor.wrong_client(world.api).check_credentials()

    assert world.emulator.book.envelopes == {}
    assert world.receiver.events == []
