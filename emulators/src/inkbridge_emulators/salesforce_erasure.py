"""Salesforce's delete by External ID, emulated: ``DELETE /services/data/{v}/sobjects/{sObject}/
{externalIdField}/{value}`` deletes the record and answers 204; a value no record holds answers
404 ``NOT_FOUND`` (as a second delete of the same record does). Lookups on other records that
pointed at the deleted one are cleared, Salesforce's default for a lookup relationship. Every
call that gets past faults, auth and limits is logged (``deletes`` in ``/_state``) for tests
to count.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from inkbridge_emulators._crm_common import now_iso
from inkbridge_emulators.salesforce_state import SOBJECTS, SalesforceOrg, SalesforceRefusal


class SObjectDeletes:
    """The deletes an org received."""

    def __init__(self, org: SalesforceOrg) -> None:
        self.org = org
        self.calls: list[dict[str, Any]] = []

    async def endpoint(self, request: Request) -> Response:
        sobject = request.path_params["sobject"]
        field = request.path_params["field"]
        value = request.path_params["value"]
        kind = SOBJECTS.get(sobject)
        if kind is None:
            raise SalesforceRefusal(
                404, "NOT_FOUND", f"The requested resource does not exist: {sobject}"
            )
        if field not in kind.external_ids:
            raise SalesforceRefusal(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        found = self.org.find(sobject, field, value)
        deleted = found is not None and self.org.table.delete(sobject, found[0])
        self.calls.append(
            {
                "sobject": sobject,
                "field": field,
                "value": value,
                "deleted": deleted,
                "at": now_iso(),
            }
        )
        if found is None or not deleted:
            raise SalesforceRefusal(404, "NOT_FOUND", "The requested resource does not exist")
        self._clear_lookups(found[0])
        return Response(status_code=204)

    def _clear_lookups(self, record_id: str) -> None:
        table = self.org.table
        for obj in table.objects():
            for rid, props in table.all(obj):
                pointing = [k for k, v in props.items() if k != "Id" and v == record_id]
                if pointing:
                    table.put(obj, rid, {**props, **dict.fromkeys(pointing)})
