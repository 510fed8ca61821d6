"""Documenso: webhooks carrying a shared secret, and the API of your Documenso origin."""

from __future__ import annotations

from inkbridge.errors import ConfigError
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from inkbridge.providers.documenso.client import DocumensoClient
from inkbridge.providers.kind import ClientSetup, ProviderKind


def _client(setup: ClientSetup) -> DocumensoClient:
    if not setup.settings.api_url:
        raise ConfigError(f"connection {setup.connection!r} needs api_url (your Documenso origin)")
    return DocumensoClient(setup.settings.api_url, setup.api_key(), setup.http)


DOCUMENSO = ProviderKind(
    "documenso", adapter=lambda setup: DocumensoAdapter(setup.secrets), client=_client
)
