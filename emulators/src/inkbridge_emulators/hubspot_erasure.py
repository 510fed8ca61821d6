"""HubSpot's GDPR delete, emulated: ``POST /crm/v3/objects/contacts/gdpr-delete`` with
``{"objectId", "idProperty"}`` (``email``, or the record id without one) permanently deletes the
contact and what is kept about it (its subscription statuses, list memberships and
associations); an email HubSpot does not know is blocklisted instead, and either way the answer
is 204. Every call that gets past faults, auth and limits is logged for tests to count.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from inkbridge_emulators._crm_common import now_iso, read_json
from inkbridge_emulators.hubspot_errors import HubSpotRefusal
from inkbridge_emulators.hubspot_state import (
    ASSOCIATIONS,
    LIST_MEMBERS,
    STATUSES,
    HubSpotCrm,
)


class GdprDeletes:
    """The GDPR deletes a portal received, and its blocklist of emails."""

    def __init__(self, crm: HubSpotCrm) -> None:
        self.crm = crm
        self.calls: list[dict[str, Any]] = []
        self.blocklist: set[str] = set()

    async def endpoint(self, request: Request) -> Response:
        body = await read_json(request)
        object_id = body.get("objectId") if isinstance(body, dict) else None
        id_property = body.get("idProperty") if isinstance(body, dict) else None
        if not isinstance(object_id, str) or not object_id:
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "objectId is required")
        if id_property not in (None, "email", "hs_object_id"):
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "idProperty must be email")
        prop = id_property or "hs_object_id"
        value = object_id.lower() if prop == "email" else object_id
        if prop == "email":
            found = self.crm.table.find("contacts", "email", value)
        else:
            props = self.crm.table.get("contacts", value)
            found = None if props is None else (value, props)
        deleted = found is not None and self.crm.table.delete("contacts", found[0])
        if found is not None and deleted:
            self._forget(found[0], str(found[1].get("email") or "").lower())
        if not deleted and prop == "email":
            self.blocklist.add(value)
        self.calls.append(
            {"objectId": object_id, "idProperty": prop, "deleted": deleted, "at": now_iso()}
        )
        return Response(status_code=204)

    def _forget(self, contact_id: str, email: str) -> None:
        """Delete what the portal keeps about a deleted contact."""
        table = self.crm.table
        contact = ["contacts", contact_id]
        for key, props in table.all(ASSOCIATIONS):
            if contact in (props.get("from"), props.get("to")):
                table.delete(ASSOCIATIONS, key)
        for key, props in table.all(LIST_MEMBERS):
            if str(props.get("id")) == contact_id:
                table.delete(LIST_MEMBERS, key)
        for key, props in table.all(STATUSES):
            if email and str(props.get("subscriberIdString")).lower() == email:
                table.delete(STATUSES, key)
