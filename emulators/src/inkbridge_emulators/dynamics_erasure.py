"""Dataverse's delete, emulated: ``DELETE /api/data/v9.2/{set}({key}='{value}')`` (or
``{set}({guid})``) deletes the row and answers 204; a row that is not there answers 404
``0x80040217`` (as a second delete of the same row does). Deleting a contact cascades as
Dataverse's default relationships do: activities regarding it are deleted (parental), other
rows' lookups to it are cleared (remove link). Every call that gets past faults, auth and limits
is logged (``deletes`` in ``/_state``) for tests to count.
"""

from __future__ import annotations

from typing import Any

from inkbridge_emulators._crm_common import now_iso
from inkbridge_emulators.dynamics_state import Dataverse, DataverseError, OpResponse

# Activity tables: their rows belong to the row they are regarding.
ACTIVITIES = ("tasks",)


class RowDeletes:
    """The deletes an environment received."""

    def __init__(self, dataverse: Dataverse) -> None:
        self.dataverse = dataverse
        self.calls: list[dict[str, Any]] = []

    def delete(self, reference: str) -> OpResponse:
        entity_set, key, value = self.dataverse.locate(reference)
        found = self.dataverse.row(entity_set, key, value or "")
        deleted = found is not None and self.dataverse.rows.delete(entity_set, found[0])
        self.calls.append(
            {"set": entity_set, "key": key or None, "value": value, "deleted": deleted}
            | {"at": now_iso()}
        )
        if found is None or not deleted:
            logical = self.dataverse.tables[entity_set].logical_name
            raise DataverseError(404, "0x80040217", f"{logical} With Ids = {value} Does Not Exist")
        self._cascade(found[0])
        return OpResponse(204, "No Content")

    def _cascade(self, row_id: str) -> None:
        rows = self.dataverse.rows
        for entity_set in rows.objects():
            for rid, columns in rows.all(entity_set):
                if entity_set in ACTIVITIES and columns.get("_regardingobjectid_value") == row_id:
                    rows.delete(entity_set, rid)
                    continue
                linked = [c for c, v in columns.items() if c.endswith("_value") and v == row_id]
                if linked:
                    rows.put(entity_set, rid, {**columns, **dict.fromkeys(linked)})
