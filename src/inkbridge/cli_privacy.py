"""The privacy commands: ``inkbridge datamap``, ``inkbridge retention run``, ``inkbridge
backup`` and ``inkbridge restore``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from inkbridge.cli_common import (
    config_option,
    configuration_from,
    opened_databases,
    settings_from,
)


@click.command()
@config_option
@click.option(
    "--format", "fmt", type=click.Choice(["json", "markdown"]), default="json", show_default=True
)
def datamap(config_path: Path | None, fmt: str) -> None:
    """Every store, processor and data category, with regions, encryption, retention and the
    scopes that can read it: built from the configuration and the schema's classification
    alone (it opens no database)."""
    from inkbridge.services.datamap import data_map
    from inkbridge.services.datamap_markdown import to_markdown

    built = data_map(configuration_from(config_path))
    if fmt == "markdown":
        click.echo(to_markdown(built), nl=False)
    else:
        click.echo(json.dumps(built, indent=2, sort_keys=True))


@click.group()
def retention() -> None:
    """Retention windows (``[retention]``): purge what is past its window."""


@retention.command("run")
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would be purged; change nothing.")
@click.option("--region", default=None, help="Only this region (default: every region).")
def retention_run(config_path: Path | None, dry_run: bool, region: str | None) -> None:
    """Purge, in each region, what each category holds past its window; each purge is an
    audit entry (cli:retention:purged). Evidence is kept."""
    from inkbridge.domain.retention import EVIDENCE_IS_KEPT, iso_duration
    from inkbridge.services.retention import run_all

    settings = settings_from(config_path)
    with opened_databases(settings, migrated=True) as databases:
        runs = run_all(
            databases,
            settings.retention,
            source="cli",
            actor="cli",
            dry_run=dry_run,
            region=region,
        )
    verb = "would purge" if dry_run else "purged"
    for run in runs:
        for outcome in run.categories:
            head = f"{run.region}: {outcome.category.value} ({iso_duration(outcome.window)})"
            if outcome.window is None:
                click.echo(f"{head}: kept, no window configured")
                continue
            rows = ", ".join(f"{table} {count}" for table, count in sorted(outcome.rows.items()))
            click.echo(f"{head}: {verb} {outcome.total} rows ({rows})")
        click.echo(f"{run.region}: {EVIDENCE_IS_KEPT}")
    click.echo("logs: written to stderr; the operator's log sink keeps them")


region_option = click.option("--region", required=True, help="The region to back up or restore.")


@click.command()
@config_option
@region_option
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(path_type=Path),
    help="A new file (or a directory) inside the region's backup_dirs.",
)
def backup(config_path: Path | None, region: str, target: Path) -> None:
    """An online backup of a SQLite region's database (consistent while the server runs),
    only into that region's backup directories."""
    from inkbridge.services import backups

    settings = settings_from(config_path)
    with opened_databases(settings) as databases:
        done = backups.backup(settings, databases, region, target, actor="cli")
    click.echo(f"{region}: backed up to {done.path} (schema {done.revision})")


@click.command()
@config_option
@region_option
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A backup taken of this region by `inkbridge backup`.",
)
def restore(config_path: Path | None, region: str, source: Path) -> None:
    """Replace a SQLite region's database with a backup of that same region. Stop the server
    and every worker first."""
    from inkbridge.services import backups

    settings = settings_from(config_path)
    with opened_databases(settings) as databases:
        done = backups.restore(settings, databases, region, source, actor="cli")
    click.echo(f"{region}: restored from {done.path} (schema {done.revision})")
    click.echo("run `inkbridge migrate` if that schema is older than this version's")
