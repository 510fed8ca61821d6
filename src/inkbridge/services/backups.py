"""Backups per region: where a region's backups may be written (its declared ``backup_dirs``, or
``<data_dir>/backups/<region>/`` when it declares none; never inside another region's), the
online backup of a SQLite region, and the restore of a backup into the region it was taken of.

PostgreSQL regions are backed up with the server's own tools (``pg_dump`` per region
database, see the README); ``backup`` refuses them with a line that says so. Each backup and
restore is an audit entry in the region's database (``<source>:backup:created|restored``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from inkbridge.config import Settings
from inkbridge.errors import BackupRefused, ConfigError
from inkbridge.store import audit, sqlite_backup
from inkbridge.store.database import Databases

POSTGRES_BACKUPS = (
    "its database is PostgreSQL: back it up with pg_dump, one dump per region database "
    "(README: Residency and privacy, Backups)"
)


@dataclass(frozen=True)
class BackupDone:
    region: str
    path: Path
    revision: str | None


def default_backup_dir(settings: Settings, region: str) -> Path:
    return settings.data_dir / "backups" / region


def backup_dirs(settings: Settings, region: str) -> list[Path]:
    """Where backups of ``region`` may go: its declared directories, else the default one."""
    declared = settings.regions[region].backup_dirs
    return list(declared) if declared else [default_backup_dir(settings, region)]


def sqlite_path(settings: Settings, region: str) -> Path | None:
    """The file of a SQLite region's database, or None for a PostgreSQL one."""
    url = make_url(settings.database_url(region))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def check_target(settings: Settings, region: str, target: Path) -> Path:
    """The resolved path a backup of ``region`` may be written to, or ``BackupRefused``."""
    if region not in settings.regions:
        raise ConfigError(f"unknown region {region!r}")
    resolved = target.expanduser().resolve()
    for other in sorted(settings.regions):
        if other == region:
            continue
        for directory in backup_dirs(settings, other):
            if _inside(resolved, directory.expanduser().resolve()):
                raise BackupRefused(
                    region, f"{target} is inside {directory}, a backup directory of {other!r}"
                )
    own = backup_dirs(settings, region)
    if not any(_inside(resolved, d.expanduser().resolve()) for d in own):
        allowed = ", ".join(str(d) for d in own)
        raise BackupRefused(region, f"{target} is outside its backup directories ({allowed})")
    return resolved


def backup(
    settings: Settings, databases: Databases, region: str, target: Path, *, actor: str
) -> BackupDone:
    """An online backup of ``region`` at ``target``: a new file, or a directory (an existing
    one, or one of the region's backup directories) to name one in."""
    if region not in settings.regions:
        raise ConfigError(f"unknown region {region!r}")
    source = sqlite_path(settings, region)
    if source is None:
        raise BackupRefused(region, POSTGRES_BACKUPS)
    resolved = check_target(settings, region, target)
    own = {d.expanduser().resolve() for d in backup_dirs(settings, region)}
    if resolved.is_dir() or resolved in own:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        resolved = resolved / f"{region}-{stamp}.db"
    if resolved.exists():
        raise BackupRefused(region, f"{resolved} exists; a backup never overwrites a file")
    resolved.parent.mkdir(parents=True, exist_ok=True)
    marker = sqlite_backup.backup(source, resolved, region)
    with databases[region].transaction() as conn:
        audit.record_operator_action(
            conn, region, actor, "cli:backup:created", region, {"path": str(resolved)}
        )
    return BackupDone(region, resolved, marker.revision)


def restore(
    settings: Settings, databases: Databases, region: str, source: Path, *, actor: str
) -> BackupDone:
    """Replace ``region``'s database with a backup taken of that region. The server and the
    workers must be stopped: a process holding the database open keeps its own view of it."""
    if region not in settings.regions:
        raise ConfigError(f"unknown region {region!r}")
    target = sqlite_path(settings, region)
    if target is None:
        raise BackupRefused(region, POSTGRES_BACKUPS)
    if not source.is_file():
        raise BackupRefused(region, f"{source} is not a file")
    try:
        marker = sqlite_backup.read_marker(source)
    except sqlite_backup.NotABackup as exc:
        raise BackupRefused(region, f"{source}: {exc}") from None
    if marker.region != region:
        raise BackupRefused(region, f"{source} is a backup of region {marker.region!r}")
    databases[region].engine.dispose()
    sqlite_backup.restore(source, target)
    with databases[region].transaction() as conn:
        audit.record_operator_action(
            conn,
            region,
            actor,
            "cli:backup:restored",
            region,
            {"path": str(source), "taken_at": marker.taken_at},
        )
    return BackupDone(region, source, marker.revision)
