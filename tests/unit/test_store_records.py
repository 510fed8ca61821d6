"""Reading rows as records: the columns a record is read from are those named like its fields,
a renamed field reads its own column, and fields the row holds in another form are given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)

from inkbridge.store.records import columns_of, record_from

metadata = MetaData()
parcels = Table(
    "parcels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String(40), nullable=False),
    Column("error", String(200)),
    Column("body", String(200)),
    Column("sent_at", DateTime),
)


@dataclass(frozen=True)
class Parcel:
    id: int
    label: str
    sent_at: datetime | None


@dataclass(frozen=True)
class ParkedParcel:
    id: int
    reason: str | None


@dataclass(frozen=True)
class OpenedParcel:
    id: int
    body: str


def _stored() -> Engine:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            parcels.insert(),
            [
                {"id": 1, "label": "a", "error": "refused", "body": "sealed:hi", "sent_at": None},
                {"id": 2, "label": "b", "error": None, "body": "sealed:yo", "sent_at": None},
            ],
        )
    return engine


def test_a_record_reads_only_the_columns_named_like_its_fields() -> None:
    assert [c.name for c in columns_of(parcels, Parcel)] == ["id", "label", "sent_at"]


def test_rows_read_as_records_carry_their_columns_values() -> None:
    engine = _stored()
    with engine.connect() as conn:
        rows = conn.execute(select(*columns_of(parcels, Parcel)).order_by(parcels.c.id))
        assert [record_from(Parcel, r) for r in rows] == [
            Parcel(1, "a", None),
            Parcel(2, "b", None),
        ]


def test_a_renamed_field_reads_the_column_it_names() -> None:
    engine = _stored()
    with engine.connect() as conn:
        query = select(*columns_of(parcels, ParkedParcel, reason="error"))
        rows = conn.execute(query.order_by(parcels.c.id))
        assert [record_from(ParkedParcel, r) for r in rows] == [
            ParkedParcel(1, "refused"),
            ParkedParcel(2, None),
        ]


def test_a_given_field_takes_the_place_of_the_stored_value() -> None:
    engine = _stored()
    with engine.connect() as conn:
        row = conn.execute(select(parcels).where(parcels.c.id == 1)).one()
        opened = record_from(OpenedParcel, row, body=row.body.removeprefix("sealed:"))
    assert opened == OpenedParcel(1, "hi")
