"""What `inkbridge serve` loads to start on the embedded default (SQLite, no configuration):
alembic only while the schema is behind the code, never psycopg, nor the clients of features
that are not configured (console single sign-on, signed JWT assertions). And the cheap reads
that let it skip alembic agree with alembic's own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from inkbridge.store import migrate
from inkbridge.store.database import Databases
from tests.support.processes import PYTHON

HEAVY = ("alembic", "psycopg", "authlib", "joserfc", "jwt")

# The serve command as a user starts it, up to the moment uvicorn would take over: then it
# prints which of the heavy packages are in memory instead of serving.
SERVE_UNTIL_LISTENING = f"""
import json, sys
import uvicorn

def report(self, *args, **kwargs):
    print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))

uvicorn.Server.run = report
from inkbridge.cli import main
main(["serve", "--port", "8999"], standalone_mode=False)
"""


def _loaded_by_serve(work: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    done = subprocess.run(
        [PYTHON, "-c", SERVE_UNTIL_LISTENING],
        cwd=work,
        env={**env, "INKBRIDGE_DATA_DIR": str(work / "data")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_serve_loads_alembic_only_to_migrate_and_never_psycopg_on_sqlite(tmp_path: Path) -> None:
    assert _loaded_by_serve(tmp_path) == ["alembic"]  # the first start creates the schema
    assert _loaded_by_serve(tmp_path) == []  # a restart finds it current


def test_the_head_read_from_the_revision_files_is_alembics() -> None:
    alembic_head = ScriptDirectory.from_config(migrate._config()).get_current_head()
    assert migrate.head_revision() == alembic_head


def _revisions_agree(url: str) -> None:
    databases = Databases({"eu": url}, home_region="eu")
    db = databases["eu"]
    try:
        assert migrate.current_revision(db) is None
        migrate.upgrade(db, "0003")
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0003"
        assert migrate.current_revision(db) == "0003"
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision()
    finally:
        databases.dispose()


def test_the_revision_read_from_the_version_table_is_alembics(tmp_path: Path) -> None:
    _revisions_agree(f"sqlite:///{tmp_path / 'eu.db'}")


@pytest.mark.postgres
def test_the_revision_read_on_postgresql_is_alembics(pg_url: str) -> None:
    # The schema of pg_url is its search path: the version table is looked for there.
    _revisions_agree(pg_url)
