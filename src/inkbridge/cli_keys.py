"""inkbridge keys: rotating a region's key-encryption key."""

from __future__ import annotations

from pathlib import Path

import click

from inkbridge.cli_common import CommandLineError, config_option, databases_of, settings_from
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
    databases = databases_of(settings)  # refuses a database needing a key that is missing
    try:
        migrations.ensure_migrated(databases)
    finally:
        databases.dispose()
    managed = start_managed_rotation(settings, region) if is_managed(settings, region) else None
    databases = databases_of(settings)  # the keys as they are now, the new one current
    try:
        done = rotate_region(databases[region])
    finally:
        databases.dispose()
    if managed is not None and done.left_behind == 0:
        managed.retire()
    click.echo(
        f"{region}: {done.data_keys} data keys and {done.receipt_keys} receipt keys re-wrapped "
        f"under key {done.key_id}; {done.left_behind} left under older keys"
    )
    if done.left_behind:
        raise SystemExit(1)
