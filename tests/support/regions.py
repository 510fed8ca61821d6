"""Two regions for residency tests: ``eu`` (home) and ``us``, on SQLite files or on two
PostgreSQL schemas, each with its own sandbox connection (``sandbox`` and ``sandbox-us``) and
its own CRM destination declared for it alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inkbridge.config import Settings
from tests.conftest import PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.builders import SECRET

REGIONS = ("eu", "us")
CONNECTIONS = {"eu": "sandbox", "us": "sandbox-us"}
# What a receipt refused for residency is listed with: where and why, never its payload.
REFUSED_RECEIPT_KEYS = frozenset(
    {"id", "region", "connection", "source", "status", "reason", "received_at", "processed_at"}
)


def region_urls(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Each region's database URL for the length of a test."""
    if backend == "sqlite":
        yield {region: f"sqlite:///{tmp_path}/{region}.db" for region in REGIONS}
        return
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    schemas = {region: new_pg_schema() for region in REGIONS}
    try:
        yield {region: url for region, (_, url) in schemas.items()}
    finally:
        for name, _ in schemas.values():
            drop_pg_schema(name)


def two_region_settings(tmp_path: Path, urls: dict[str, str], **extra: Any) -> Settings:
    secret = tmp_path / "sandbox.secret"
    secret.write_text(SECRET)
    tree: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "home_region": "eu",
        "regions": {region: {"database_url": url} for region, url in urls.items()},
        "connections": {
            name: {"provider": "sandbox", "region": region, "secrets": [f"file:{secret}"]}
            for region, name in CONNECTIONS.items()
        },
        "destinations": {
            f"{region}_crm": {"kind": "sandbox_crm", "regions": [region]} for region in REGIONS
        },
        "templates": {"nda": {"title": "Mutual NDA", "version": 1}},
    }
    tree.update(extra)
    return Settings.model_validate(tree)
