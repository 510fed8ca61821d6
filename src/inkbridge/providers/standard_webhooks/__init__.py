"""Any sender of Standard Webhooks: verified by signature, with no API client."""

from __future__ import annotations

from inkbridge.providers.kind import ProviderKind, WebhookSetup
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter


def standard_webhooks_adapter(setup: WebhookSetup) -> StandardWebhooksAdapter:
    """The adapter of a Standard Webhooks sender (the sandbox provider is one too)."""
    return StandardWebhooksAdapter(
        setup.secrets,
        tolerance_seconds=setup.tolerance_seconds,
        provider=setup.provider,
        mapping=setup.mapping,
        signature=setup.signature,
    )


STANDARD_WEBHOOKS = ProviderKind("standard_webhooks", adapter=standard_webhooks_adapter)
