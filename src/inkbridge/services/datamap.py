"""The data map: every store, every processor and every data category of a deployment, with
regions, encryption, retention and who can read it, built from the configuration and the
schema's column classification alone (``store.classification``), so it cannot drift from
either. The output is sorted: the same configuration always gives the same map.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from inkbridge.config import ConnectionSettings, Settings
from inkbridge.domain.retention import WINDOWED, RetentionCategory, iso_duration
from inkbridge.local_site import (
    SANDBOX_CRM_PATH,
    SANDBOX_MARKETING_PATH,
    SANDBOX_STATE_FILES,
    sandbox_provider_state_file,
)
from inkbridge.privacy.configured_keys import is_managed, managed_dir
from inkbridge.sandbox.twin import twin_path
from inkbridge.services.backups import backup_dirs, sqlite_path
from inkbridge.services.processors import processors
from inkbridge.store.classification import classified
from inkbridge.store.data_categories import ColumnClass

LOG_SINK = "stderr"
LOG_RETENTION = "the operator's log sink (inkbridge writes no log file)"
KEPT = {
    RetentionCategory.EVIDENCE: "keep (hash-chained evidence)",
    RetentionCategory.RECORDS: "keep (the record; goes with erasure, not age)",
}


def database_location(url: str) -> str:
    """Where a region's database is, without user, password or connection options."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database or ":memory:")
    # URL.set() keeps a part given None: build the URL afresh from the parts that say where.
    bare = URL.create(
        parsed.drivername, host=parsed.host, port=parsed.port, database=parsed.database
    )
    where = bare.render_as_string(hide_password=True)
    # Regions may share one PostgreSQL database in schemas of their own: the schema is where.
    schema = _search_path(parsed.query.get("options"))
    return where if schema is None else f"{where} (search_path {schema})"


def _search_path(options: str | tuple[str, ...] | None) -> str | None:
    """The search_path a libpq ``options`` value sets (``-csearch_path=x`` or
    ``-c search_path=x``), if any."""
    texts = (options,) if isinstance(options, str) else options or ()
    for text in texts:
        for part in text.replace("-c ", "-c").split():
            name, _, value = part.removeprefix("-c").partition("=")
            if name.strip() == "search_path" and value:
                return value
    return None


def _database_stores(settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "name": f"database:{region}",
            "kind": "sqlite" if sqlite_path(settings, region) else "postgresql",
            "location": database_location(settings.database_url(region)),
            "regions": [region],
            "holds": "every table of the schema",
        }
        for region in sorted(settings.regions)
    ]


def _backup_stores(settings: Settings) -> list[dict[str, Any]]:
    stores = []
    for region in sorted(settings.regions):
        is_sqlite = sqlite_path(settings, region) is not None
        declared = settings.regions[region].backup_dirs
        for directory in backup_dirs(settings, region) if is_sqlite else declared:
            stores.append(
                {
                    "name": f"backups:{region}",
                    "kind": "sqlite backups" if is_sqlite else "pg_dump (operator)",
                    "location": Path(directory).as_posix(),
                    "regions": [region],
                    "holds": "copies of the region's database",
                }
            )
    return stores


def _uses_local_sandbox(conn: ConnectionSettings) -> bool:
    return conn.provider == "sandbox" and conn.api_url is None


def _sandbox_stores(settings: Settings) -> list[dict[str, Any]]:
    if not settings.sandbox:
        return []
    state = settings.data_dir / "sandbox"
    # One provider account (and state file) per sandbox connection, each in its region.
    providers = [
        {
            "name": "sandbox:" + sandbox_provider_state_file(name).removesuffix(".db"),
            "kind": "sqlite",
            "location": (state / sandbox_provider_state_file(name)).as_posix(),
            "regions": [conn.region],
            "holds": "the sandbox vendor's own records (test data)",
        }
        for name, conn in sorted(settings.connections.items())
        if _uses_local_sandbox(conn)
    ]
    destinations = [
        {
            "name": f"sandbox:{mount.rsplit('/', 1)[-1]}",
            "kind": "sqlite",
            "location": (state / SANDBOX_STATE_FILES[mount]).as_posix(),
            # Only the destinations with no url of their own write to the mounted tool.
            "regions": sorted(
                {
                    r
                    for d in settings.destinations.values()
                    if d.kind == kind and d.url is None
                    for r in d.regions
                }
            ),
            "holds": "the sandbox vendor's own records (test data)",
        }
        for mount, kind in (
            (SANDBOX_CRM_PATH, "sandbox_crm"),
            (SANDBOX_MARKETING_PATH, "sandbox_marketing"),
        )
    ]
    return sorted([*providers, *destinations], key=lambda store: str(store["name"]))


def _twin_stores(settings: Settings) -> list[dict[str, Any]]:
    """The sandbox twins of destinations with ``golive_twin``: each keeps the go-live test
    leads' records it was sent instead of the vendor, whether or not the sandbox is mounted."""
    return [
        {
            "name": f"sandbox:twin-{name}",
            "kind": "sqlite",
            "location": twin_path(settings.data_dir, name).as_posix(),
            "regions": sorted(destination.regions),
            "holds": "go-live test leads' records sent to the destination's twin (test data)",
        }
        for name, destination in sorted(settings.destinations.items())
        if destination.golive_twin is not None
    ]


def _key_stores(settings: Settings) -> list[dict[str, Any]]:
    """The managed key files of the regions that configure no key of their own; a configured
    key is a secret reference, kept wherever the operator keeps secrets."""
    return [
        {
            "name": f"keys:{region}",
            "kind": "key",
            "location": managed_dir(settings, region).as_posix(),
            "regions": [region],
            "holds": "the region's key-encryption keys (current, previous, retired)",
        }
        for region in sorted(settings.regions)
        if is_managed(settings, region)
    ]


def _log_stores(settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "name": f"log:{LOG_SINK}",
            "kind": "log",
            "location": f"{LOG_SINK} (JSON lines)",
            "regions": sorted(settings.regions),
            "holds": "events with ids; personal keys are redacted",
        }
    ]


def _retention_of(column: ColumnClass, settings: Settings) -> str:
    if column.retention in WINDOWED:
        return (
            f"{column.retention.value}: {iso_duration(settings.retention.window(column.retention))}"
        )
    return KEPT[column.retention]


def _categories(settings: Settings) -> list[dict[str, Any]]:
    by_category: dict[str, list[ColumnClass]] = defaultdict(list)
    for column in classified():
        for category in column.categories:
            by_category[category].append(column)
    return [
        {
            "category": category,
            "regions": sorted(settings.regions),
            "columns": [
                {
                    "column": column.name,
                    "encrypted": column.encrypted,
                    "retention": _retention_of(column, settings),
                    "readable_by": sorted(column.readable_by),
                }
                for column in columns
            ],
        }
        for category, columns in sorted(by_category.items())
    ]


def _retention(settings: Settings) -> list[dict[str, Any]]:
    windows = [
        {
            "category": category.value,
            "window": iso_duration(settings.retention.window(category)),
            "columns": sorted(c.name for c in classified() if c.retention is category),
        }
        for category in WINDOWED
    ]
    kept = [
        {
            "category": category.value,
            "window": "keep",
            "columns": sorted(c.name for c in classified() if c.retention is category),
        }
        for category in (RetentionCategory.EVIDENCE, RetentionCategory.RECORDS)
    ]
    logs = {"category": "logs", "window": LOG_RETENTION, "columns": []}
    return [*windows, *kept, logs]


def data_map(settings: Settings) -> dict[str, Any]:
    """The whole map as plain data (JSON-ready), sorted."""
    stores = [
        *_database_stores(settings),
        *_sandbox_stores(settings),
        *_twin_stores(settings),
        *_log_stores(settings),
        *_backup_stores(settings),
        *_key_stores(settings),
    ]
    return {
        "regions": sorted(settings.regions),
        "home_region": settings.home_region,
        "stores": sorted(stores, key=lambda s: (s["name"], s["location"])),
        "processors": [
            {
                "name": p.name,
                "kind": p.kind,
                "vendor": p.vendor,
                "hosts": list(p.hosts),
                "regions": list(p.regions),
            }
            for p in processors(settings)
        ],
        "categories": _categories(settings),
        "retention": _retention(settings),
    }
