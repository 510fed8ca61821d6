"""DropboxSignClient.check_credentials against the emulator: ``GET /v3/account`` with the API
key as the basic-auth user; another key is refused, and never shown."""

from __future__ import annotations

from inkbridge.providers.dropbox_sign.client import DropboxSignClient
from inkbridge.vendor_http.credentials import Verdict

from .support import HOST, Rig


async def test_the_api_key_of_the_account_is_accepted(rig: Rig) -> None:
    result = await rig.client.check_credentials()

    assert result.verdict is Verdict.ACCEPTED, result
    assert result.detail == "GET /v3/account: 200"


async def test_another_api_key_is_refused_and_never_shown(rig: Rig) -> None:
    wrong = DropboxSignClient(f"{HOST}/v3", api_key="revoked-api-key-0001", client=rig.http)

    result = await wrong.check_credentials()

    assert result.verdict is Verdict.REFUSED, result
    assert result.detail.startswith("GET /v3/account: credentials refused, 401")
    assert "revoked-api-key-0001" not in result.detail
    assert rig.emulator.requests == {}
