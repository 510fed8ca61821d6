"""Adobe Acrobat Sign: webhooks checked by client id, and the REST v6 API with OAuth refresh."""

from __future__ import annotations

from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.acrobat_sign.client import AcrobatSignClient
from inkbridge.providers.kind import ClientSetup, ProviderKind


def _client(setup: ClientSetup) -> AcrobatSignClient:
    return AcrobatSignClient(
        setup.api_url("https://api.na1.adobesign.com"),
        setup.option("client_id"),
        setup.secret_option("client_secret"),
        setup.secret_option("refresh_token"),
        setup.http,
    )


ACROBAT_SIGN = ProviderKind(
    "acrobat_sign", adapter=lambda setup: AcrobatSignAdapter(setup.secrets), client=_client
)
