"""Reading rows as the people they hold: every value sealed at rest opened again, so a test can
look for a person's data (and find it gone after an erasure) without knowing which columns are
encrypted."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Table, select

from inkbridge.privacy import field_cipher
from inkbridge.store import sealed_fields


def opened_value(conn: Connection, column: str, value: Any) -> Any:
    """``value`` of ``column`` (``table.column``) with sealed text, also one level down in a
    JSON object (the first-touch URLs), opened; a shredded value opens as None."""
    if isinstance(value, str) and field_cipher.is_sealed(value):
        return sealed_fields.open_text(conn, column, value)
    if isinstance(value, dict):
        return {key: opened_value(conn, f"{column}.{key}", item) for key, item in value.items()}
    return value


def opened_rows(conn: Connection, table: Table) -> list[dict[str, Any]]:
    """Every row of ``table`` with its sealed values opened."""
    return [
        {name: opened_value(conn, f"{table.name}.{name}", value) for name, value in row.items()}
        for row in (dict(r._mapping) for r in conn.execute(select(table)))
    ]


def opened_dump(conn: Connection, table: Table) -> str:
    """``opened_rows`` as one JSON text, to search for a person's values."""
    return json.dumps(opened_rows(conn, table), default=str)
