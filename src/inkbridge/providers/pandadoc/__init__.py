"""PandaDoc: webhooks signed in a query parameter, and its public v1 API."""

from __future__ import annotations

from inkbridge.providers.kind import ClientSetup, ProviderKind
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
from inkbridge.providers.pandadoc.client import PandaDocClient


def _client(setup: ClientSetup) -> PandaDocClient:
    return PandaDocClient(
        setup.api_url("https://api.pandadoc.com/public/v1"),
        api_key=setup.api_key(),
        client=setup.http,
    )


PANDADOC = ProviderKind(
    "pandadoc", adapter=lambda setup: PandaDocAdapter(setup.secrets), client=_client
)
