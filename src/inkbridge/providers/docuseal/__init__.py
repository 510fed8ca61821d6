"""DocuSeal: timestamped HMAC webhooks, and its REST API."""

from __future__ import annotations

from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge.providers.kind import ClientSetup, ProviderKind, WebhookSetup


def _adapter(setup: WebhookSetup) -> DocuSealAdapter:
    return DocuSealAdapter(setup.secrets, tolerance_seconds=setup.tolerance_seconds)


def _client(setup: ClientSetup) -> DocuSealClient:
    return DocuSealClient(setup.api_url("https://api.docuseal.com"), setup.api_key(), setup.http)


DOCUSEAL = ProviderKind("docuseal", adapter=_adapter, client=_client)
