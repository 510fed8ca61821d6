"""The connector registry: which ``ConnectorKind`` a destination's ``kind`` names. The sandbox
CRM serves two kinds (``sandbox_crm`` and ``sandbox_marketing``, two mounts of one app)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Connector
from inkbridge.connectors.dynamics import DYNAMICS
from inkbridge.connectors.hubspot import HUBSPOT
from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.marketo import MARKETO
from inkbridge.connectors.mautic import MAUTIC
from inkbridge.connectors.pipedrive import PIPEDRIVE
from inkbridge.connectors.salesforce import SALESFORCE
from inkbridge.connectors.sandbox_crm import SANDBOX_CRM
from inkbridge.connectors.webhook import WEBHOOK
from inkbridge.errors import ConfigError
from inkbridge.local_site import LocalSite

KINDS: Mapping[str, ConnectorKind] = {
    "sandbox_crm": SANDBOX_CRM,
    "sandbox_marketing": SANDBOX_CRM,
    "webhook": WEBHOOK,
    "hubspot": HUBSPOT,
    "salesforce": SALESFORCE,
    "dynamics": DYNAMICS,
    "pipedrive": PIPEDRIVE,
    "marketo": MARKETO,
    "mautic": MAUTIC,
}


def kind_of(name: str, dest: DestinationSettings) -> ConnectorKind:
    kind = KINDS.get(dest.kind)
    if kind is None:
        raise ConfigError(f"destination {name!r}: no connector for {dest.kind!r}")
    return kind


def build_connector(
    name: str, dest: DestinationSettings, http: httpx.AsyncClient, site: LocalSite
) -> Connector:
    return kind_of(name, dest).build(name, dest, http, site)
