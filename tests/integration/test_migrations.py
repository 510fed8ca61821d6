"""Migrations: the Alembic history builds exactly the schema the code declares, on both
backends, and upgrades step by step from the first revision; data migrations compute what the
code computes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from inkbridge.domain.intervals import INTERVAL_COLUMNS, INTERVAL_MOMENTS, interval_columns
from inkbridge.store import migrate
from inkbridge.store.database import Databases
from inkbridge.store.schema import POSTGRES_ONLY_INDEXES, envelopes, leads, metadata

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# The envelope's own milestones among the moments the intervals span.
MOMENTS = [m for m in INTERVAL_MOMENTS if m != "lead_created_at"]


# Alembic cannot read expression indexes back from SQLite and says so before asking which
# objects to compare; the only ones are PostgreSQL's (POSTGRES_ONLY_INDEXES), left out below.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrated_schema_matches_the_declared_tables(db_url: str) -> None:
    databases = Databases({"default": db_url}, "default")
    try:
        migrate.upgrade(databases.home, "0001")
        migrate.upgrade_all(databases)
        assert migrate.current_revision(databases.home) == migrate.head_revision()
        postgres_only = {index.name for index in POSTGRES_ONLY_INDEXES}

        def declared_here(obj: object, name: str | None, type_: str, *_: object) -> bool:
            # Alembic compares every declared index; those declared for PostgreSQL alone
            # (``ddl_if``) are not part of SQLite's schema.
            return databases.home.is_postgres or type_ != "index" or name not in postgres_only

        with databases.home.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": declared_here})
            differences = compare_metadata(context, metadata)
        # Type-only noise (our UTC decorator vs the plain DateTime the migrations create).
        real = [
            d for d in differences if not (isinstance(d, list) and d and d[0][0] == "modify_type")
        ]
        assert real == []
    finally:
        databases.dispose()


def test_0019_adds_the_report_group_indexes_on_each_backend(db_url: str) -> None:
    """The single-touch journeys' partial index on both backends, time to sign's group indexes
    on PostgreSQL only; the downgrade drops them again."""
    databases = Databases({"default": db_url}, "default")
    postgres_only = {index.name for index in POSTGRES_ONLY_INDEXES}

    def indexes(table: str) -> set[str]:
        with databases.home.engine.connect() as conn:
            return {str(index["name"]) for index in inspect(conn).get_indexes(table)}

    try:
        migrate.upgrade(databases.home, "0018")
        assert "ix_journey_touches_single" not in indexes("journey_touches")
        assert not postgres_only & indexes("envelopes")
        migrate.upgrade(databases.home, "0019")
        assert "ix_journey_touches_single" in indexes("journey_touches")
        expected = postgres_only if databases.home.is_postgres else set()
        assert postgres_only & indexes("envelopes") == expected
        migrate.downgrade(databases.home, "0018")
        assert "ix_journey_touches_single" not in indexes("journey_touches")
        assert not postgres_only & indexes("envelopes")
    finally:
        databases.dispose()


def _moment(rng: random.Random, base: datetime) -> datetime | None:
    if rng.random() < 0.2:
        return None
    # Sub-millisecond parts, exact half milliseconds among them, and moments before ``base``.
    micros = rng.choice([0, 500, 1500, 499_500, rng.randrange(1_000_000)])
    return base + timedelta(seconds=rng.randrange(-3600, 40 * 86400), microseconds=micros)


def test_the_time_to_sign_backfill_computes_what_the_write_path_does(db_url: str) -> None:
    """Envelopes written at 0005 get from 0006 the intervals the store would have written."""
    databases = Databases({"default": db_url}, "default")
    rng = random.Random(11)
    lead_rows, envelope_rows = [], []
    for i in range(60):
        created = T0 + timedelta(hours=i, microseconds=rng.choice([0, 250, 500, 999_999]))
        lead_rows.append(
            {
                "id": f"lead-{i}",
                "region": "default",
                "score": 0,
                "first_touch": {},
                "correlation_id": f"cor-{i}",
                "created_at": created,
            }
        )
        moments = {name: _moment(rng, created) for name in MOMENTS}
        envelope_rows.append(
            {
                **moments,
                "id": f"env-{i}",
                "region": "default",
                "lead_id": f"lead-{i}" if i % 7 else None,  # some envelopes have no lead
                "connection": "sandbox",
                "provider": "sandbox",
                "correlation_id": f"cor-{i}",
                "state": "sent",
                "conflicts": [],
                "milestones": {},
                "attribution": {},
                "metadata": {},
                "created_at": created,
                "updated_at": created,
            }
        )
    try:
        migrate.upgrade(databases.home, "0005")
        with databases.home.transaction() as conn:
            conn.execute(leads.insert(), lead_rows)
            conn.execute(envelopes.insert(), envelope_rows)
        migrate.upgrade(databases.home, "0006")
        with databases.home.reader() as conn:
            stored = {r.id: r for r in conn.execute(select(envelopes))}
    finally:
        databases.dispose()
    created_at = {lead["id"]: lead["created_at"] for lead in lead_rows}
    for envelope in envelope_rows:
        row = stored[envelope["id"]]
        lead_created = created_at.get(envelope["lead_id"])
        assert row.lead_created_at == lead_created
        expected = interval_columns({**envelope, "lead_created_at": lead_created})
        assert {c: getattr(row, c) for c in INTERVAL_COLUMNS} == expected, envelope["id"]
    filled = [getattr(r, c) for r in stored.values() for c in INTERVAL_COLUMNS]
    assert sum(v is not None for v in filled) > 100
