"""Migrations: the Alembic history builds exactly the schema the code declares, on both
backends, and upgrades step by step from the first revision."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from inkbridge.store import migrate
from inkbridge.store.database import Databases
from inkbridge.store.schema import metadata


def test_the_migrated_schema_matches_the_declared_tables(db_url: str) -> None:
    databases = Databases({"default": db_url}, "default")
    try:
        migrate.upgrade(databases.home, "0001")
        migrate.upgrade_all(databases)
        assert migrate.current_revision(databases.home) == migrate.head_revision()
        with databases.home.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        # Type-only noise (our UTC decorator vs the plain DateTime the migrations create).
        real = [
            d for d in differences if not (isinstance(d, list) and d and d[0][0] == "modify_type")
        ]
        assert real == []
    finally:
        databases.dispose()
