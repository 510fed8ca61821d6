"""The built-in sandbox provider: Standard Webhooks in, and the client of the sandbox signing
API this server mounts (or the one ``api_url`` names)."""

from __future__ import annotations

from inkbridge.local_site import sandbox_provider_path
from inkbridge.providers.kind import ClientSetup, ProviderKind
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.providers.standard_webhooks import standard_webhooks_adapter


def _client(setup: ClientSetup) -> SandboxProviderClient:
    # Each sandbox connection has an account of its own on the mounted sandbox provider.
    mounted = setup.site.url(sandbox_provider_path(setup.connection))
    url = (setup.settings.api_url or mounted).rstrip("/")
    return SandboxProviderClient(
        base_url=url,
        client=setup.http,
        service_credential=setup.site.sandbox_credential(setup.connection),
    )


SANDBOX = ProviderKind(
    "sandbox", adapter=standard_webhooks_adapter, client=_client, client_without_settings=True
)
