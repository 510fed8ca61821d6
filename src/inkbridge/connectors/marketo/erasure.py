"""Marketo erasure: the leads matching the person's lookup value (the email, or the inkbridge
lead id when ``lookup_field`` is a custom field holding it) are found with Marketo's
``POST leads.json?_method=GET`` form and deleted (``POST /rest/v1/leads/delete.json`` with
``{"input": [{"id": …}]}``). A lead Marketo no longer has comes back ``skipped`` with reason
1004 (not found), which counts as erased; any other skip is a permanent failure.
"""

from __future__ import annotations

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import erasure_identifiers
from inkbridge.connectors.marketo.api import MarketoApi
from inkbridge.connectors.outbound import as_mapping
from inkbridge.errors import PermanentError

NOT_FOUND = "1004"


class MarketoErasure:
    """``Eraser`` for one Marketo instance."""

    def __init__(self, api: MarketoApi, lookup_field: str = "email") -> None:
        self._api = api
        self._lookup_field = lookup_field

    async def erase(self, change: Change) -> None:
        lead_id, email = erasure_identifiers(change)
        value = email if self._lookup_field == "email" else lead_id
        if not value:
            raise PermanentError("Marketo finds leads by email: the erasure names none")
        form = {"filterType": self._lookup_field, "filterValues": value, "fields": "id"}
        # The form keeps the email out of the URL (which clients and proxies log).
        found = await self._api.call(
            "POST", "/rest/v1/leads.json", params={"_method": "GET"}, form=form
        )
        ids = sorted({int(as_mapping(lead)["id"]) for lead in found if as_mapping(lead).get("id")})
        if not ids:
            return
        body = {"input": [{"id": marketo_id} for marketo_id in ids]}
        results = await self._api.call("POST", "/rest/v1/leads/delete.json", body=body)
        for result in (as_mapping(r) for r in results):
            if result.get("status") == "skipped":
                reasons = [str(as_mapping(r).get("code")) for r in result.get("reasons") or []]
                if reasons != [NOT_FOUND]:
                    raise PermanentError(f"Marketo skipped the delete ({','.join(reasons)})")
