"""HubSpot erasure: the GDPR delete of the person's contact, found by email
(``POST /crm/v3/objects/contacts/gdpr-delete`` with ``idProperty: email``).

HubSpot deletes the contact with its associations and engagement history; an email it does not
know is added to a blocklist instead, and the call still succeeds, so a retry is harmless.
"""

from __future__ import annotations

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import HttpEraser, erasure_email
from inkbridge.connectors.hubspot.auth import HubSpotAuth

GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"


class HubSpotErasure(HttpEraser):
    """``Eraser`` for one HubSpot account (the connector's client and auth)."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        auth: HubSpotAuth,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name, client, auth=auth, timeout=timeout)
        self._url = base_url.rstrip("/") + GDPR_DELETE

    async def erase(self, change: Change) -> None:
        email = erasure_email(change, "HubSpot finds contacts")
        await self._delete_record(
            "POST", self._url, json={"objectId": email, "idProperty": "email"}
        )
