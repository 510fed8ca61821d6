"""Key rotation: re-wrap every data key of a region (the subjects' keys, each receipt's inline
key, then the blind-index key) under the region's current KEK, in short transactions, and audit
it. The data keys themselves do not change, so no sealed value is rewritten."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from inkbridge.store import audit, data_keys, receipt_bodies
from inkbridge.store.database import RegionDatabase
from inkbridge.store.schema import webhook_receipts

BATCH = 500


@dataclass(frozen=True)
class Rotation:
    region: str
    key_id: str  # the current KEK's id
    data_keys: int  # subjects' keys and the index key, re-wrapped
    receipt_keys: int
    left_behind: int  # still under an older KEK afterwards (0 unless writers used an old key)


def rotate_region(db: RegionDatabase, *, actor: str = "cli") -> Rotation:
    keys = db.keyring.keys
    subjects = receipts = 0
    for step in ("subjects", "receipts", "index"):
        while True:
            with db.transaction() as conn:
                if step == "receipts":
                    done = receipt_bodies.rewrap_batch(conn, keys, limit=BATCH)
                else:
                    done = data_keys.rewrap_batch(conn, keys, index=step == "index", limit=BATCH)
            if step == "receipts":
                receipts += done
            else:
                subjects += done
            if done < BATCH:
                break
    older = set(keys.key_ids) - {keys.current.id}
    with db.transaction() as conn:
        left = data_keys.count_under(conn, older) + int(
            conn.execute(
                select(func.count()).where(webhook_receipts.c.body_kek_id.in_(sorted(older)))
            ).scalar_one()
        )
        audit.record_operator_action(
            conn,
            db.region,
            actor,
            "cli:keys:rotated",
            db.region,
            details={
                "key_id": keys.current.id,
                "data_keys": subjects,
                "receipt_keys": receipts,
                "left_behind": left,
            },
        )
    return Rotation(db.region, keys.current.id, subjects, receipts, left)
