"""The inbox's insert paths store exactly what the table's own types would: the SQLite driver
path and the general path must be indistinguishable to every reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from inkbridge.store.database import Databases
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipts
from inkbridge.store.receipts import load as load_receipt
from inkbridge.store.schema import webhook_receipts

PARIS = timezone(timedelta(hours=1))


def _row(key: str, received_at: datetime) -> ReceiptRow:
    return ReceiptRow(
        region="default",
        connection="sandbox",
        dedup_key=key,
        source="webhook",
        content_type="application/json",
        headers={"content-type": "application/json", "webhook-id": key, "x-note": "é ✓"},
        body=b'{"type":"document_sent","data":{}}',
        received_at=received_at,
        correlation_id="corr-1",
    )


def test_receipts_read_back_as_written_with_ids_and_duplicates(databases: Databases) -> None:
    db = databases.home
    moments = [
        datetime(2026, 11, 26, 20, 0, 0, 5, tzinfo=UTC),
        datetime(2026, 11, 26, 21, 0, 0, tzinfo=PARIS),
    ]
    rows = [_row("a", moments[0]), _row("b", moments[1]), _row("a", moments[1])]

    with db.transaction() as conn:
        first = insert_receipts(conn, rows)
    with db.transaction() as conn:
        again = insert_receipts(conn, [_row("b", moments[0])])

    assert [inserted for _, inserted in first] == [True, True, False]
    assert first[0][0] == first[2][0] != first[1][0]
    assert again == [(first[1][0], False)]
    with db.reader() as conn:
        stored = conn.execute(select(webhook_receipts).order_by(webhook_receipts.c.id)).all()
        opened = load_receipt(conn, stored[0].id)
    assert opened is not None
    assert [r.dedup_key for r in stored] == ["a", "b"]
    assert [r.received_at for r in stored] == [moments[0], moments[1].astimezone(UTC)]
    assert stored[1].received_at == datetime(2026, 11, 26, 20, 0, 0, tzinfo=UTC)
    assert opened.headers == rows[0].headers
    assert opened.body == rows[0].body
    assert (stored[0].status, stored[0].attempts, stored[0].source) == ("pending", 0, "webhook")
    assert stored[0].correlation_id == "corr-1"
    assert stored[0].content_type == "application/json"


def test_on_sqlite_the_moment_is_the_canonical_text_reports_compare(databases: Databases) -> None:
    db = databases.home
    if not db.is_sqlite:
        pytest.skip("PostgreSQL stores timestamptz, not text")
    with db.transaction() as conn:
        insert_receipts(conn, [_row("t", datetime(2026, 11, 26, 21, 0, 0, 5, tzinfo=PARIS))])
    with db.reader() as conn:
        raw = conn.exec_driver_sql("SELECT received_at FROM webhook_receipts").scalar_one()
    assert raw == "2026-11-26 20:00:00.000005"


def test_a_batch_larger_than_one_statement_holds_is_stored_whole(databases: Databases) -> None:
    db = databases.home
    moment = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    rows = [_row(f"k{i}", moment) for i in range(2345)] + [_row("k7", moment)]

    with db.transaction() as conn:
        outcomes = insert_receipts(conn, rows)

    assert sum(inserted for _, inserted in outcomes) == 2345
    assert outcomes[-1] == (outcomes[7][0], False)
    assert len({receipt_id for receipt_id, _ in outcomes}) == 2345
