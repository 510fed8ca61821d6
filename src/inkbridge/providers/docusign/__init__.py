"""DocuSign: Connect webhooks (HMAC, several keys) and the eSignature REST API with JWT grant."""

from __future__ import annotations

from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.docusign.client import DocuSignClient
from inkbridge.providers.kind import ClientSetup, ProviderKind


def _client(setup: ClientSetup) -> DocuSignClient:
    return DocuSignClient(
        setup.api_url("https://demo.docusign.net/restapi"),
        setup.option("account_id"),
        setup.option("integration_key"),
        setup.option("user_id"),
        setup.secret_option("private_key"),
        str(setup.settings.options.get("auth_url", "https://account-d.docusign.com")),
        setup.http,
        default_return_url=setup.settings.options.get("default_return_url"),
    )


DOCUSIGN = ProviderKind(
    "docusign", adapter=lambda setup: DocuSignConnectAdapter(setup.secrets), client=_client
)
