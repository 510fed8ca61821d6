"""Backups per region: an online SQLite backup restores to exactly what was backed up, is
consistent while a writer keeps committing, lands only in the region's own backup directories,
and restores only into the region it was taken of. PostgreSQL regions are pointed to pg_dump."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from inkbridge.cli import main
from inkbridge.config import Settings
from inkbridge.errors import BackupRefused
from inkbridge.services import backups
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.store import migrate
from inkbridge.store.database import Databases
from inkbridge.store.schema import audit_log, leads
from inkbridge.store.sqlite_backup import MARKER_TABLE
from tests.conftest import requires_pg


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "home_region": "eu",
            "regions": {"eu": {}, "us": {"backup_dirs": [str(tmp_path / "us-backups")]}},
        }
    )


@pytest.fixture
def databases(settings: Settings) -> Iterator[Databases]:
    dbs = Databases({region: settings.database_url(region) for region in settings.regions}, "eu")
    migrate.upgrade_all(dbs)
    yield dbs
    dbs.dispose()


def _capture(databases: Databases, region: str = "eu") -> str:
    return capture_lead(
        databases, LeadCapture(email=f"{uuid.uuid4().hex[:8]}@example.com", region=region)
    )


def _lead_ids(databases: Databases, region: str = "eu") -> set[str]:
    with databases[region].reader() as conn:
        return set(conn.execute(select(leads.c.id)).scalars())


def test_a_backup_restores_exactly_what_was_backed_up(
    settings: Settings, databases: Databases
) -> None:
    kept = _capture(databases)
    done = backups.backup(
        settings, databases, "eu", settings.data_dir / "backups" / "eu", actor="cli"
    )
    later = _capture(databases)
    assert _lead_ids(databases) == {kept, later}

    backups.restore(settings, databases, "eu", done.path, actor="cli")

    assert _lead_ids(databases) == {kept}
    assert done.path.parent == (settings.data_dir / "backups" / "eu").resolve()
    with databases["eu"].reader() as conn:
        actions = conn.execute(select(audit_log.c.action)).scalars().all()
        tables = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert "cli:backup:restored" in actions
    assert MARKER_TABLE not in tables
    assert journal == "wal"
    assert migrate.current_revision(databases["eu"]) == migrate.head_revision()


def test_a_backup_into_another_regions_directory_is_refused(
    settings: Settings, databases: Databases, tmp_path: Path
) -> None:
    for target in (
        tmp_path / "us-backups" / "eu.db",
        tmp_path / "us-backups" / "nested" / ".." / "eu.db",
        tmp_path / "elsewhere" / "eu.db",
        settings.data_dir / "backups" / "eu" / ".." / "us" / "eu.db",
    ):
        with pytest.raises(BackupRefused):
            backups.backup(settings, databases, "eu", target, actor="cli")
    assert list(tmp_path.rglob("*.db.partial")) == []
    assert not (tmp_path / "us-backups").exists()


def test_a_backup_of_one_region_is_never_restored_into_another(
    settings: Settings, databases: Databases, tmp_path: Path
) -> None:
    _capture(databases)
    done = backups.backup(
        settings, databases, "eu", settings.data_dir / "backups" / "eu", actor="cli"
    )
    us_before = _lead_ids(databases, "us")

    with pytest.raises(BackupRefused, match="backup of region 'eu'"):
        backups.restore(settings, databases, "us", done.path, actor="cli")
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).close()
    with pytest.raises(BackupRefused, match="not an inkbridge backup"):
        backups.restore(settings, databases, "us", plain, actor="cli")

    assert _lead_ids(databases, "us") == us_before


def test_a_backup_taken_while_a_writer_commits_is_consistent(
    settings: Settings, databases: Databases
) -> None:
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            written.append(_capture(databases))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            stop.wait(0.01)
        done = backups.backup(
            settings, databases, "eu", settings.data_dir / "backups" / "eu", actor="cli"
        )
        at_backup = len(written)
        while len(written) < at_backup + 10:
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    copy = sqlite3.connect(done.path)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        in_copy = {row[0] for row in copy.execute("SELECT id FROM leads")}
    finally:
        copy.close()
    # A prefix of the writes, each whole: every lead in the copy was written, in order.
    assert in_copy == set(written[: len(in_copy)])
    assert 20 <= len(in_copy) < len(written)
    with databases["eu"].reader() as conn:
        assert conn.execute(select(func.count()).select_from(leads)).scalar_one() == len(written)


def _config(tmp_path: Path, regions: str) -> Path:
    path = tmp_path / "inkbridge.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nhome_region = "eu"\n{regions}')
    return path


def test_the_command_line_backs_up_and_refuses_a_foreign_target(
    settings: Settings, databases: Databases, tmp_path: Path
) -> None:
    config = _config(
        tmp_path, f'[regions.eu]\n[regions.us]\nbackup_dirs = ["{tmp_path / "us-backups"}"]\n'
    )
    runner = CliRunner()

    ok = runner.invoke(
        main,
        ["backup", "--config", str(config), "--region", "us", "--to", str(tmp_path / "us-backups")],
    )
    refused = runner.invoke(
        main,
        ["backup", "--config", str(config), "--region", "eu", "--to", str(tmp_path / "us-backups")],
    )

    assert ok.exit_code == 0, ok.output
    assert "us: backed up to" in ok.output
    assert refused.exit_code == 2
    assert "a backup directory of 'us'" in refused.output


@requires_pg
def test_a_postgresql_region_is_pointed_to_pg_dump(tmp_path: Path, pg_url: str) -> None:
    config = _config(tmp_path, f'[regions.eu]\ndatabase_url = "{pg_url}"\n')

    result = CliRunner().invoke(
        main, ["backup", "--config", str(config), "--region", "eu", "--to", str(tmp_path)]
    )

    assert result.exit_code != 0
    assert "pg_dump" in result.output
    assert len(result.output.strip().splitlines()) == 1
