"""Migration 0010: a populated database learns the ``refused_residency`` receipt state, and going
back parks refused receipts as failed before the older check returns. Both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inkbridge.store import migrate
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.schema import webhook_receipts

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def _insert(db: RegionDatabase, key: str, status: str) -> None:
    with db.transaction() as conn:
        conn.execute(
            webhook_receipts.insert().values(
                region="default",
                connection="sandbox",
                dedup_key=key,
                source="webhook",
                content_type="application/json",
                headers={},
                body=b"",
                received_at=NOW,
                status=status,
                attempts=1,
            )
        )


def _statuses(db: RegionDatabase) -> list[str]:
    with db.reader() as conn:
        query = select(webhook_receipts.c.status).order_by(webhook_receipts.c.id)
        return [str(s) for s in conn.execute(query).scalars()]


def test_migration_0010_admits_refused_receipts_and_parks_them_as_failed_going_back(
    db_url: str,
) -> None:
    databases = Databases({"default": db_url}, "default")
    db = databases.home
    try:
        migrate.upgrade(db, "0009")
        _insert(db, "before", "done")
        with pytest.raises(IntegrityError):
            _insert(db, "early", "refused_residency")

        migrate.upgrade(db, "0010")
        _insert(db, "refused", "refused_residency")
        with pytest.raises(IntegrityError):
            _insert(db, "typo", "refused")
        assert _statuses(db) == ["done", "refused_residency"]

        migrate.downgrade(db, "0009")
        assert _statuses(db) == ["done", "failed"]
        with pytest.raises(IntegrityError):
            _insert(db, "late", "refused_residency")
    finally:
        databases.dispose()
