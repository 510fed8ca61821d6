"""Dynamics 365 erasure: the person's contact is deleted by its alternate key
(``DELETE contacts(inkbridge_leadid='…')``); Dataverse cascades the delete to the records the
contact owns by relationship. A contact already gone answers 404, which counts as erased.
"""

from __future__ import annotations

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.dynamics.plan import CONTACT_KEY, odata_key
from inkbridge.connectors.erasure import HttpEraser, erasure_identifiers

HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


class DynamicsErasure(HttpEraser):
    """``Eraser`` for one Dataverse environment (the connector's client and auth)."""

    def __init__(
        self,
        *,
        name: str,
        api_url: str,
        client: httpx.AsyncClient,
        auth: httpx.Auth,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name, client, auth=auth, timeout=timeout, headers=HEADERS)
        self._api = api_url.rstrip("/")

    async def erase(self, change: Change) -> None:
        lead_id, _ = erasure_identifiers(change)
        await self._delete_record(
            "DELETE", f"{self._api}/{odata_key('contacts', CONTACT_KEY, lead_id)}"
        )
