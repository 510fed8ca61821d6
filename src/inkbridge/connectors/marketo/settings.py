"""A Marketo destination built from its ``[destinations.NAME]`` settings."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.marketing import journey_ids
from inkbridge.connectors.marketo.api import MarketoApi, MarketoLogin
from inkbridge.connectors.marketo.connector import VENDOR_MAX_BATCH, JourneyTarget, MarketoConnector
from inkbridge.connectors.marketo.erasure import MarketoErasure
from inkbridge.errors import ConfigError


def _journeys(name: str, raw: Any) -> dict[str, JourneyTarget]:
    return {k: JourneyTarget(*ids) for k, ids in journey_ids(name, raw, "list_id").items()}


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> ErasingConnector:
    """Reads ``url`` (``https://<munchkin>.mktorest.com``) or ``options.munchkin_id``,
    ``options.identity_url`` (default ``<url>/identity``), ``options.client_id``,
    ``credentials.client_secret``, ``options.lookup_field`` (default ``email``),
    ``options.journeys``, ``options.suppress_list_id``, ``fields``, ``batch_size`` (at most
    300) and ``timeout_seconds``."""
    options = dest.options
    munchkin = options.get("munchkin_id")
    url = dest.url or (f"https://{munchkin}.mktorest.com" if munchkin else None)
    if not url:
        raise ConfigError(f"destination {name!r}: url (or options.munchkin_id) is required")
    client_id = options.get("client_id")
    secret_ref = dest.credentials.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not secret_ref:
        raise ConfigError(
            f"destination {name!r}: options.client_id and credentials.client_secret are required"
        )
    suppress = options.get("suppress_list_id")
    if suppress is not None and not isinstance(suppress, int):
        raise ConfigError(f"destination {name!r}: options.suppress_list_id must be an integer")
    secret = resolve_secret(secret_ref).get_secret_value()
    lookup_field = str(options.get("lookup_field") or "email")
    # The connector and the eraser each hold their own API (and count their own requests).
    login: MarketoLogin = {
        "client_id": client_id,
        "client_secret": secret,
        "identity_url": options.get("identity_url"),
        "timeout": dest.timeout_seconds,
    }
    connector = MarketoConnector(
        name,
        url,
        client,
        **login,
        lookup_field=lookup_field,
        fields=dest.fields,
        journeys=_journeys(name, options.get("journeys") or {}),
        suppress_list_id=suppress,
        max_batch=max(1, min(dest.batch_size, VENDOR_MAX_BATCH)),
    )
    api = MarketoApi(name, url, client, **login)
    return ErasingConnector(connector, MarketoErasure(api, lookup_field))
