"""Rows read as the store's frozen records. A record's fields carry the names of the columns it is
read from, so the list of what is read is written once, in the dataclass, not again in each query
and each constructor call.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Table

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = TypeVar("Record", bound="DataclassInstance")


@cache
def _names(record_type: type[DataclassInstance]) -> tuple[str, ...]:
    # Cached: records are read on the claim paths, once per row.
    return tuple(f.name for f in fields(record_type))


def columns_of(
    table: Table, record_type: type[DataclassInstance], **renamed: str
) -> list[ColumnElement[Any]]:
    """The columns of ``table`` a ``record_type`` is read from, in the order of its fields;
    ``renamed`` names the column of a field that the record calls otherwise."""
    return [
        table.c[renamed[name]].label(name) if name in renamed else table.c[name]
        for name in _names(record_type)
    ]


def record_from(record_type: type[Record], row: Any, **given: Any) -> Record:
    """A ``record_type`` of the row's columns of the same names; ``given`` holds the fields the
    row has only in another form (sealed, renamed, a plain string for an enum)."""
    values = {name: row._mapping[name] for name in _names(record_type) if name not in given}
    return record_type(**values, **given)
