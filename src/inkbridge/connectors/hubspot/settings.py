"""A HubSpot destination built from its ``[destinations.NAME]`` settings."""

from __future__ import annotations

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors._crm_batch import crm_parts, str_map
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.hubspot.auth import HubSpotAuth, HubSpotOAuth, PrivateAppToken
from inkbridge.connectors.hubspot.connector import DEFAULT_URL, VENDOR_MAX_BATCH, HubSpotConnector
from inkbridge.connectors.hubspot.erasure import HubSpotErasure
from inkbridge.connectors.hubspot.plan import HubSpotOptions
from inkbridge.errors import ConfigError


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> ErasingConnector:
    """Build the connector from config.

    credentials: ``token`` (private app) or ``client_id``/``client_secret``/``refresh_token``
    (OAuth; ``client_id`` may be given as ``options.client_id`` instead).
    options: ``envelope_object`` (default ``deals``), ``owners`` (inkbridge owner -> HubSpot owner
    id), ``subscriptions`` (consent kind -> subscription id), ``lists`` (journey name, or
    ``suppress``, -> list id), ``legal_basis``, ``legal_basis_explanation``, ``deal_pipeline``,
    ``deal_stages`` (envelope state -> deal stage id).
    """
    creds, options = dest.credentials, dest.options
    base = (dest.url or DEFAULT_URL).rstrip("/")

    def secret(key: str) -> str:
        return resolve_secret(creds[key]).get_secret_value()

    auth: HubSpotAuth
    if "token" in creds:
        auth = PrivateAppToken(secret("token"))
    elif {"client_secret", "refresh_token"} <= creds.keys():
        client_id = secret("client_id") if "client_id" in creds else options.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise ConfigError(f"destination {name!r}: HubSpot OAuth needs a client_id")
        auth = HubSpotOAuth(
            token_url=base + "/oauth/v1/token",
            client_id=client_id,
            client_secret=secret("client_secret"),
            refresh_token=secret("refresh_token"),
            client=client,
            timeout=dest.timeout_seconds,
        )
    else:
        raise ConfigError(
            f"destination {name!r}: HubSpot needs credentials.token or "
            "credentials.client_secret + credentials.refresh_token"
        )
    subscriptions = str_map(name, options, "subscriptions")
    if not all(v.isdigit() for v in subscriptions.values()):
        raise ConfigError(f"destination {name!r}: options.subscriptions ids must be numbers")
    envelope_object = options.get("envelope_object", "deals")
    if not isinstance(envelope_object, str) or not envelope_object:
        raise ConfigError(f"destination {name!r}: options.envelope_object must be an object type")
    pipeline = options.get("deal_pipeline")
    hub_options = HubSpotOptions(
        envelope_object=envelope_object,
        owners=str_map(name, options, "owners"),
        subscriptions={k: int(v) for k, v in subscriptions.items()},
        lists=str_map(name, options, "lists"),
        legal_basis=str(options.get("legal_basis", "CONSENT_WITH_NOTICE")),
        legal_basis_explanation=str(
            options.get("legal_basis_explanation", "Consent recorded by inkbridge")
        ),
        deal_pipeline=str(pipeline) if pipeline else None,
        deal_stages=str_map(name, options, "deal_stages"),
    )
    connector = HubSpotConnector(
        base_url=base, **crm_parts(name, dest, client, auth, hub_options, VENDOR_MAX_BATCH)
    )
    eraser = HubSpotErasure(
        name=name, base_url=base, client=client, auth=auth, timeout=dest.timeout_seconds
    )
    return ErasingConnector(connector, eraser)
