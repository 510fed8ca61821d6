"""The write-once column: a value recorded by the first caller and never overwritten, as a
guarded update so that two racing callers cannot both win."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, update


def set_once(conn: Connection, column: Column[Any], row_id: str, value: Any) -> bool:
    """Set ``column`` of the row whose ``id`` is ``row_id`` unless it is already set; True when
    this call set it."""
    table = column.table
    result = conn.execute(
        update(table).where(table.c.id == row_id, column.is_(None)).values({column.name: value})
    )
    return bool(result.rowcount)
