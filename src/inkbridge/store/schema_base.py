"""What every table of a region's database is built on: the shared metadata (its naming
convention names every constraint, so migrations can refer to them), UTC timestamps and
sequence ids that autoincrement on both backends."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

from inkbridge.store.column_types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = UTCDateTime()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SEQ = BigInteger().with_variant(Integer(), "sqlite")
