"""Dropbox Sign: callbacks signed with the account's API key, and its v3 API."""

from __future__ import annotations

from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from inkbridge.providers.dropbox_sign.client import DropboxSignClient
from inkbridge.providers.kind import ClientSetup, ProviderKind


def _client(setup: ClientSetup) -> DropboxSignClient:
    options = setup.settings.options
    return DropboxSignClient(
        setup.api_url("https://api.hellosign.com/v3"),
        api_key=setup.api_key(),
        client=setup.http,
        test_mode=bool(options.get("test_mode", True)),
        client_id=options.get("client_id"),
    )


DROPBOX_SIGN = ProviderKind(
    "dropbox_sign", adapter=lambda setup: DropboxSignAdapter(setup.secrets), client=_client
)
