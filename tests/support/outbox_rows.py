"""Outbox rows written straight into a region's database, for tests of what operators do with
them (dead letters listed, replayed, audited)."""

from __future__ import annotations

from datetime import UTC, datetime

from inkbridge.store.database import RegionDatabase
from inkbridge.store.schema import outbox


def insert_dead_letter(db: RegionDatabase, *, region: str, destination: str, key: str) -> int:
    """A change that ran out of attempts; its outbox id."""
    return insert_change(db, region=region, destination=destination, key=key, status="dead")


def insert_change(
    db: RegionDatabase, *, region: str, destination: str, key: str, status: str = "pending"
) -> int:
    """A change for envelope ``env_1`` in ``status``; its outbox id."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        result = conn.execute(
            outbox.insert().values(
                region=region,
                destination=destination,
                idempotency_key=key,
                record_key="envelope:env_1",
                kind="envelope.state_changed",
                payload={},
                status=status,
                attempts=8 if status == "dead" else 0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        return int(result.inserted_primary_key[0])
