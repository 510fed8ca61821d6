"""A receipt that cannot be processed is parked with a redacted error: the exception's type and
a fixed message, never a value from the payload, in ``webhook_receipts.error`` and in the logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from structlog.testing import capture_logs

from inkbridge.bootstrap import bootstrap
from inkbridge.errors import redacted_error
from inkbridge.services.processing import MAX_RECEIPT_ATTEMPTS
from inkbridge.store.database import RegionDatabase
from inkbridge.store.schema import webhook_receipts
from tests.conftest import requires_pg
from tests.support.builders import event_body, make_settings, store_delivery

MARKER = "PAYLOAD-VALUE-7f3a"


def _receipts(db: RegionDatabase) -> list[tuple[str, int, str]]:
    query = select(webhook_receipts.c.status, webhook_receipts.c.attempts, webhook_receipts.c.error)
    with db.reader() as conn:
        return [(row.status, row.attempts, row.error or "") for row in conn.execute(query)]


def test_a_stored_body_with_a_lone_surrogate_fails_with_a_fixed_reason(
    tmp_path: Path, db_url: str
) -> None:
    container = bootstrap(make_settings(tmp_path, db_url), auto_migrate=True)
    db = container.databases.home
    envelope = f"{MARKER}\ud800"
    body = {"type": "document_sent", "data": {"envelope_id": envelope, "occurred_at": "2026-01-01"}}
    # Stored as a receipt from before ingest refused such bodies.
    store_delivery(db, json.dumps(body).encode())

    with capture_logs() as logs:
        container.services.receipts.process_pending(db)

    [(status, _, error)] = _receipts(db)
    assert status == "failed"
    assert error == "the JSON holds a lone UTF-16 surrogate"
    assert MARKER not in repr(logs)
    container.databases.dispose()


@requires_pg
def test_a_receipt_that_keeps_failing_is_parked_without_payload_values(
    tmp_path: Path, pg_url: str
) -> None:
    container = bootstrap(make_settings(tmp_path, pg_url), auto_migrate=True)
    db = container.databases.home
    # PostgreSQL refuses the overlong id when the worker writes it: a driver error whose text
    # quotes the statement's parameters, the payload among them.
    body = event_body(
        "document_sent",
        MARKER + "x" * 600,
        datetime.now(UTC),
        recipient_email=f"{MARKER}@example.com",
    )
    store_delivery(db, body)

    with capture_logs() as first_logs:
        container.services.receipts.process_pending(db)
    [(status, attempts, error)] = _receipts(db)
    assert (status, attempts) == ("processing", 1)  # released for a retry after a backoff
    # The last attempt of its budget: claimed once more now, it is parked.
    with db.transaction() as conn:
        conn.execute(
            update(webhook_receipts).values(
                attempts=MAX_RECEIPT_ATTEMPTS - 1, lease_until=datetime(2000, 1, 1, tzinfo=UTC)
            )
        )
    with capture_logs() as last_logs:
        container.services.receipts.process_pending(db)

    [(status, attempts, error)] = _receipts(db)
    assert (status, attempts) == ("failed", MAX_RECEIPT_ATTEMPTS)
    assert error.startswith("DataError at ")
    assert error.endswith(": processing failed (details withheld)")
    assert MARKER not in error
    for entry in first_logs + last_logs:
        assert MARKER not in repr(entry)
    assert any(entry.get("parked") for entry in last_logs)
    container.databases.dispose()


def test_a_redacted_error_names_the_type_and_place_but_not_the_message() -> None:
    try:
        raise ValueError(f"cannot store {MARKER!r}")
    except ValueError as exc:
        text = redacted_error(exc)
    assert text.startswith("ValueError at test_receipt_errors.py:")
    assert MARKER not in text
