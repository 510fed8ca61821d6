"""Schema migrations per region: upgrade to head, and the start-up check that refuses to run
on a database whose schema is behind the code.

Alembic (about 10 MB resident) is imported only to change a schema: the revision a database
is at is one query, and the head is read from the revision files' ``revision`` and
``down_revision`` lines, so a start-up on a current schema never loads it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

from inkbridge.errors import UnmigratedDatabase
from inkbridge.store import attribution_journeys
from inkbridge.store.database import Databases, RegionDatabase

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic's own table, in the connection's default schema (env.py names no other).
VERSION_TABLE = "alembic_version"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _revisions_in_files() -> dict[str, set[str]] | None:
    """Each revision file's revision and the revisions it revises; None when a file does
    not state them as plain literals (alembic then reads the files itself)."""
    found: dict[str, set[str]] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        if path.name == "__init__.py":
            continue
        lines = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(lines["revision"])
            down = ast.literal_eval(lines.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        downs = down if isinstance(down, tuple | list) else () if down is None else (down,)
        if not isinstance(revision, str) or not all(isinstance(d, str) for d in downs):
            return None
        found[revision] = set(downs)
    return found


def head_revision() -> str:
    """The newest revision: the one no other revises."""
    revisions = _revisions_in_files()
    if revisions:
        revised = set().union(*revisions.values())
        heads = [revision for revision in revisions if revision not in revised]
        if len(heads) == 1:
            return heads[0]
    from alembic.script import ScriptDirectory  # several heads, or files it alone can read

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


def current_revision(db: RegionDatabase) -> str | None:
    return engine_revision(db.engine)


def engine_revision(engine: Engine) -> str | None:
    """The revision a database's schema is at (None before the first migration)."""
    with engine.connect() as conn:
        return connection_revision(conn)


def connection_revision(conn: Connection) -> str | None:
    """The revision recorded in alembic's version table, read on ``conn``."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()  # noqa: S608
    if len(rows) <= 1:
        return rows[0] if rows else None
    from alembic.runtime.migration import MigrationContext  # several heads: alembic says why

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: RegionDatabase, revision: str = "head") -> None:
    """Upgrade to ``revision``; at head, also fill derived tables a revision created empty
    (in the same transaction, with the current code's statements)."""
    head = head_revision()
    with db.engine.begin() as conn:
        if revision not in {"head", head} or connection_revision(conn) != head:
            from alembic import command

            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        if connection_revision(conn) == head:
            attribution_journeys.ensure_built(conn)


def downgrade(db: RegionDatabase, revision: str) -> None:
    """Step the schema back to ``revision`` (each revision's own downgrade)."""
    from alembic import command

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
