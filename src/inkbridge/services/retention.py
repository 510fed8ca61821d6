"""Retention runs: purge, per region, what each windowed category holds past its window, or say
what a run would purge (``dry_run``) without changing anything.

A purge goes in batches; each batch is one transaction holding the purge and its audit entry
(``<source>:retention:purged``, the category as subject, the rows per table as details), so no
row goes unaccounted for. Evidence is kept, and logs are never inkbridge's to purge: it writes
them to stderr, and the operator's log sink keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from inkbridge.config_retention import RetentionSettings
from inkbridge.domain.retention import WINDOWED, RetentionCategory, cutoff, iso_duration
from inkbridge.store import audit
from inkbridge.store import retention as retention_store
from inkbridge.store.database import Databases, RegionDatabase

# Rows per transaction: short enough that SQLite's one writer is soon free for webhooks.
BATCH = 500


@dataclass
class CategoryRun:
    """What one category's run purged (or would purge), by table."""

    category: RetentionCategory
    window: timedelta | None
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def add(self, counts: dict[str, int]) -> None:
        for table, count in counts.items():
            self.rows[table] = self.rows.get(table, 0) + count


@dataclass
class RetentionRun:
    """One region's run: each windowed category in order."""

    region: str
    dry_run: bool
    categories: list[CategoryRun] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.categories)


def run_region(
    db: RegionDatabase,
    settings: RetentionSettings,
    *,
    source: str,
    actor: str,
    dry_run: bool = False,
    now: datetime | None = None,
) -> RetentionRun:
    """Purge (or count) what is due in ``db``; categories without a window are reported kept."""
    moment = now or datetime.now(UTC)
    run = RetentionRun(db.region, dry_run)
    for category in WINDOWED:
        window = settings.window(category)
        outcome = CategoryRun(category, window)
        run.categories.append(outcome)
        if window is None:
            continue
        before = cutoff(moment, window)
        for part in retention_store.PARTS[category]:
            if dry_run:
                with db.reader() as conn:
                    outcome.add({part.table: retention_store.count_due(conn, part, before)})
            else:
                _purge_part(db, part, outcome, before, moment, source=source, actor=actor)
    return run


def _purge_part(
    db: RegionDatabase,
    part: retention_store.Part,
    outcome: CategoryRun,
    before: datetime,
    now: datetime,
    *,
    source: str,
    actor: str,
) -> None:
    while True:
        with db.transaction() as conn:
            keys = retention_store.due_keys(conn, part, before, BATCH)
            if not keys:
                return
            counts = part.purge(conn, keys, before, now)
            if any(counts.values()):
                audit.record_operator_action(
                    conn,
                    db.region,
                    actor,
                    f"{source}:retention:purged",
                    outcome.category.value,
                    {
                        "window": iso_duration(outcome.window),
                        "before": before.isoformat(),
                        "rows": counts,
                    },
                )
        outcome.add(counts)
        # Nothing changed although rows were due: another process moved them on; stop rather
        # than find the same keys again.
        if len(keys) < BATCH or not any(counts.values()):
            return


def run_all(
    databases: Databases,
    settings: RetentionSettings,
    *,
    source: str,
    actor: str,
    dry_run: bool = False,
    region: str | None = None,
    now: datetime | None = None,
) -> list[RetentionRun]:
    """A run in every region (or the one named), in region order."""
    chosen = [databases[region]] if region is not None else list(databases)
    return [
        run_region(db, settings, source=source, actor=actor, dry_run=dry_run, now=now)
        for db in chosen
    ]
