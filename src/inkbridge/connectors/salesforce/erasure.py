"""Salesforce erasure: the person is deleted, not anonymised. The Lead (or Contact) the
connector upserted and its ``Individual`` (names, consent party) are deleted by their
inkbridge External ID (``DELETE /sobjects/<object>/<External ID field>/<lead id>``), so no
Salesforce record id is needed; a record already gone answers 404, which counts as erased.

Deleted records sit in the org's Recycle Bin until it is emptied (15 days, or at once by an
administrator): Salesforce's own retention, outside what the API call controls.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import HttpEraser, erased_or_gone, erasure_identifiers
from inkbridge.connectors.salesforce.auth import SalesforceAuth
from inkbridge.connectors.salesforce.plan import INDIVIDUAL_KEY, LEAD_KEY
from inkbridge.errors import RetryableError
from inkbridge.vendor_http.responses import body_error_code, retry_after


class SalesforceErasure(HttpEraser):
    """``Eraser`` for one Salesforce org (the connector's client and auth)."""

    def __init__(
        self,
        *,
        name: str,
        client: httpx.AsyncClient,
        auth: SalesforceAuth,
        person_object: str,
        api_version: str,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name, client, auth=auth, timeout=timeout)
        self._auth = auth
        self._person = person_object
        self._version = api_version
        self._base = base_url.rstrip("/") if base_url else None

    async def erase(self, change: Change) -> None:
        lead_id, _ = erasure_identifiers(change)
        # The person first: it looks the Individual up, and the Individual's deletion must
        # not be refused for a person still pointing at it.
        await self._delete(self._person, LEAD_KEY, lead_id)
        await self._delete("Individual", INDIVIDUAL_KEY, lead_id)

    async def _delete(self, sobject: str, key_field: str, value: str) -> None:
        session = await self._auth.session()
        base = self._base or session.instance_url
        path = f"/sobjects/{sobject}/{key_field}/{quote(value, safe='')}"
        response = await self._send("DELETE", f"{base}/services/data/{self._version}{path}")
        if body_error_code(response, "errorCode") == "REQUEST_LIMIT_EXCEEDED":
            raise RetryableError(
                f"{self._name} answered {response.status_code} (limit)",
                retry_after=retry_after(response),
            )
        erased_or_gone(self._name, response)
