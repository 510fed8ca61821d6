"""The built-in sandbox CRM and sandbox marketing tool, mounted by this server (or at ``url``)."""

from __future__ import annotations

import httpx

from inkbridge.config import SANDBOX_CONNECTION, DestinationSettings
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.sandbox_crm.connector import SandboxCrmConnector
from inkbridge.connectors.sandbox_crm.erasure import SandboxCrmErasure
from inkbridge.local_site import SANDBOX_CRM_PATH, SANDBOX_MARKETING_PATH, LocalSite

MOUNTS = {"sandbox_crm": SANDBOX_CRM_PATH, "sandbox_marketing": SANDBOX_MARKETING_PATH}


def _build(
    name: str, dest: DestinationSettings, http: httpx.AsyncClient, site: LocalSite
) -> ErasingConnector:
    url = dest.url.rstrip("/") if dest.url else site.url(MOUNTS[dest.kind])
    credential = site.sandbox_credential(SANDBOX_CONNECTION)
    connector = SandboxCrmConnector(
        name=name,
        base_url=url,
        client=http,
        max_batch=min(dest.batch_size, 100),
        service_credential=credential,
    )
    headers = {"authorization": f"Bearer {credential}"} if credential else {}
    return ErasingConnector(connector, SandboxCrmErasure(name, url, http, headers))


SANDBOX_CRM = ConnectorKind("sandbox_crm", build=_build)
