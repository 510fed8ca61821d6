"""``inkbridge retention run``: says per region and category what it purged, or with
``--dry-run`` what it would purge while changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, update

from inkbridge.cli import main
from inkbridge.config_sources import load_settings
from inkbridge.privacy.configured_keys import region_keys
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.store import migrate, sealed_fields
from inkbridge.store.database import Databases
from inkbridge.store.schema import audit_log, leads


def test_a_dry_run_then_a_run_of_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[retention]\nunconverted_leads = "P7D"\n')
    databases = _databases(tmp_path, config)
    try:
        migrate.upgrade_all(databases)
        lead = capture_lead(databases, LeadCapture(email="old@example.com"))
        with databases.home.transaction() as conn:
            aged = datetime.now(UTC) - timedelta(days=8)
            conn.execute(update(leads).where(leads.c.id == lead).values(created_at=aged))
    finally:
        databases.dispose()
    runner = CliRunner()

    dry = runner.invoke(main, ["retention", "run", "--config", str(config), "--dry-run"])
    still = _email_and_audit(tmp_path, config)
    run = runner.invoke(main, ["retention", "run", "--config", str(config), "--region", "default"])

    assert dry.exit_code == 0, dry.output
    assert "default: unconverted_leads (P7D): would purge 1 rows (leads 1)" in dry.output
    assert "default: receipt_bodies (keep): kept, no window configured" in dry.output
    assert still == ("old@example.com", [])
    assert run.exit_code == 0, run.output
    assert "default: unconverted_leads (P7D): purged 1 rows (leads 1, touchpoints 0)" in run.output
    assert _email_and_audit(tmp_path, config) == (None, ["unconverted_leads"])


def _databases(tmp_path: Path, config: Path) -> Databases:
    """The deployment's database with the deployment's region key (the commands read the
    same managed key file under the data dir)."""
    keys = region_keys(load_settings(config))
    url = f"sqlite:///{tmp_path / 'data' / 'default.db'}"
    return Databases({"default": url}, "default", keys=keys)


def _email_and_audit(tmp_path: Path, config: Path) -> tuple[str | None, list[str]]:
    databases = _databases(tmp_path, config)
    try:
        with databases.home.reader() as conn:
            stored = conn.execute(select(leads.c.email)).scalar_one()
            email = sealed_fields.open_text(conn, "leads.email", stored)
            purged = conn.execute(
                select(audit_log.c.subject_id).where(audit_log.c.action == "cli:retention:purged")
            ).scalars()
            return email, list(purged)
    finally:
        databases.dispose()
