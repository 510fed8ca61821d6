"""HubSpot erasure: the GDPR delete of the person's contact, found by email
(``POST /crm/v3/objects/contacts/gdpr-delete`` with ``idProperty: email``).

HubSpot deletes the contact with its associations and engagement history; an email it does not
know is added to a blocklist instead, and the call still succeeds, so a retry is harmless.
"""

from __future__ import annotations

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import erased_or_gone, erasure_identifiers
from inkbridge.connectors.hubspot.auth import HubSpotAuth
from inkbridge.errors import PermanentError
from inkbridge.vendor_http.responses import send

GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"


class HubSpotErasure:
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
        self._name = name
        self._url = base_url.rstrip("/") + GDPR_DELETE
        self._client = client
        self._auth = auth
        self._timeout = timeout

    async def erase(self, change: Change) -> None:
        _, email = erasure_identifiers(change)
        if not email:
            raise PermanentError("HubSpot finds contacts by email: the erasure names none")
        body = {"objectId": email, "idProperty": "email"}
        response = await send(
            self._client,
            self._name,
            "POST",
            self._url,
            json=body,
            auth=self._auth,
            timeout=self._timeout,
        )
        erased_or_gone(self._name, response)
