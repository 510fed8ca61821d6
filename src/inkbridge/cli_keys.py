"""inkbridge keys: rotating a region's key-encryption key, and sealing the personal data an
upgraded region wrote before encryption at rest."""

from __future__ import annotations

from pathlib import Path

import click

from inkbridge.cli_common import CommandLineError, config_option, opened_databases, settings_from
from inkbridge.store import migrate as migrations


@click.group()
def keys() -> None:
    """Region keys: the key-encryption keys that wrap every data key."""


@keys.command("rotate")
@config_option
@click.option("--region", required=True, help="The region whose data keys to re-wrap.")
def keys_rotate(config_path: Path | None, region: str) -> None:
    """Re-wrap every data key of REGION under its current key.

    With a configured key, set the new one as `key`, keep the old one in `previous_keys`, run
    this, then drop the old one. With the managed key file, this makes the new key first and
    retires the old one once nothing needs it.
    """
    from inkbridge.privacy.configured_keys import is_managed, start_managed_rotation
    from inkbridge.services.key_rotation import rotate_region

    settings = settings_from(config_path)
    if region not in settings.regions:
        raise CommandLineError(f"unknown region {region!r}")
    # Opening refuses a database needing a key that is missing.
    with opened_databases(settings) as databases:
        migrations.ensure_migrated(databases)
    managed = start_managed_rotation(settings, region) if is_managed(settings, region) else None
    with opened_databases(settings) as databases:  # the keys as they are now, the new one current
        done = rotate_region(databases[region])
    if managed is not None and done.left_behind == 0:
        managed.retire()
    click.echo(
        f"{region}: {done.data_keys} data keys and {done.receipt_keys} receipt keys re-wrapped "
        f"under key {done.key_id}; {done.left_behind} left under older keys"
    )
    click.echo(
        f"rows written before encryption at rest stay plain until "
        f"`inkbridge keys seal --region {region}` has run once"
    )
    if done.left_behind:
        raise SystemExit(1)


@keys.command("seal")
@config_option
@click.option("--region", required=True, help="The region whose plain personal data to seal.")
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=10_000),
    default=500,
    show_default=True,
    help="Rows per transaction.",
)
def keys_seal(config_path: Path | None, region: str, batch: int) -> None:
    """Seal the personal data REGION stored before encryption at rest (run once after the
    upgrade; running it again seals nothing).

    Values already sealed are left as they are. On SQLite the database file is then compacted
    and its write-ahead log emptied, so no plain copy remains; stop other processes first.
    """
    from inkbridge.services.legacy_sealing import seal_region

    settings = settings_from(config_path)
    if region not in settings.regions:
        raise CommandLineError(f"unknown region {region!r}")
    # Opening refuses a database needing a key that is missing.
    with opened_databases(settings, migrated=True) as databases:
        done = seal_region(databases[region], batch=batch)
        postgres = databases[region].is_postgres
    for column, count in done.sealed.items():
        click.echo(f"  {column}: {count}")
    click.echo(f"{region}: {done.total} values sealed")
    if postgres and done.total:
        click.echo("PostgreSQL keeps the replaced rows until VACUUM FULL rewrites the tables")
    if not done.log_emptied:
        click.echo("the write-ahead log is still held open by another process: run again later")
        raise SystemExit(1)
