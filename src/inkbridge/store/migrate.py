"""Schema migrations per region: upgrade to head, and the start-up check that refuses to run
on a database whose schema is behind the code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from inkbridge.errors import UnmigratedDatabase
from inkbridge.store import attribution_journeys
from inkbridge.store.database import Databases, RegionDatabase

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


def current_revision(db: RegionDatabase) -> str | None:
    return engine_revision(db.engine)


def engine_revision(engine: Engine) -> str | None:
    """The revision a database's schema is at (None before the first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: RegionDatabase, revision: str = "head") -> None:
    """Upgrade to ``revision``; at head, also fill derived tables a revision created empty
    (in the same transaction, with the current code's statements)."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            attribution_journeys.ensure_built(conn)


def downgrade(db: RegionDatabase, revision: str) -> None:
    """Step the schema back to ``revision`` (each revision's own downgrade)."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def upgrade_all(databases: Databases) -> None:
    for db in databases:
        upgrade(db)


def ensure_migrated(databases: Databases) -> None:
    head = head_revision()
    for db in databases:
        current = current_revision(db)
        if current != head:
            raise UnmigratedDatabase(region=db.region, current=current, head=head)
