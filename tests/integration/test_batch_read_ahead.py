"""A worker's batch reads its envelopes and their recipients once (``read_ahead``: one statement
each) and keeps them current with its own writes: what it keeps is what the tables hold, a
savepoint rolled back takes its changes to the kept rows with it, and rows kept are dropped when
another writer got there first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from inkbridge.bootstrap import Container
from inkbridge.domain.lifecycle import EnvelopeState, RecipientState
from inkbridge.store import chains, sealed_fields
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.schema import envelopes, recipients
from inkbridge.store.transaction_memo import forget_reads
from tests.integration.test_driver_statements import T0, _tracked, envelope_values

T1 = datetime(2026, 11, 3, 8, 0, 0, 42, tzinfo=timezone(timedelta(hours=2)))


class Failed(Exception):
    """The failure a test injects in a savepoint."""


def _selects(db_engine: Any) -> tuple[list[str], Any]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith("SELECT") and ("FROM ENVELOPES" in head or "FROM RECIPIENTS" in head):
            seen.append(statement)

    event.listen(db_engine, "before_cursor_execute", count)
    return seen, count


def _stored_envelope(conn: Connection, envelope_id: str) -> dict[str, Any]:
    return dict(conn.execute(select(envelopes).where(envelopes.c.id == envelope_id)).one()._mapping)


def _stored_recipients(conn: Connection, envelope_id: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        select(recipients)
        .where(recipients.c.envelope_id == envelope_id)
        .order_by(recipients.c.recipient_id)
    )
    return [
        (
            r.recipient_id,
            sealed_fields.open_text(conn, "recipients.email", r.email),
            r.status,
            r.updated_at,
        )
        for r in rows
    ]


def _kept_recipients(conn: Connection, envelope_id: str) -> list[tuple[Any, ...]]:
    return [
        (r.recipient_id, r.email, r.status, r.updated_at)
        for r in envelope_store.recipient_rows(conn, envelope_id)
    ]


def _complete(conn: Connection, row: Any) -> bool:
    snapshot = envelope_store.snapshot_of(row, [])
    done = replace(snapshot, state=EnvelopeState.COMPLETED, milestones={"completed_at": T1})
    return envelope_store.save_snapshot(conn, done, current=row, now=T1)


def test_kept_rows_stay_what_the_tables_hold(container: Container) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        _tracked(conn, "env_a")
        _tracked(conn, "env_b")
        envelope_store.upsert_recipient(
            conn, _tracked(conn, "env_c"), "1", RecipientState.SENT, T0, email="c@example.com"
        )
    seen, listener = _selects(db.engine)
    try:
        with db.transaction() as conn, chains.memoized_heads(conn):
            refs = [("sandbox", f"p-env_{x}") for x in "abc"] + [("sandbox", "p-unknown")]
            envelope_store.read_ahead(conn, refs)
            assert len(seen) == 2  # the envelopes, then their recipients
            row = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_a")
            assert row is not None and _complete(conn, row)
            envelope_store.upsert_recipient(conn, row, "2", RecipientState.SIGNED, T1, "a@x.io")
            envelope_store.upsert_recipient(conn, row, "1", RecipientState.SENT, T0)
            c = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_c")
            assert c is not None
            envelope_store.upsert_recipient(conn, c, "1", RecipientState.VIEWED, T1, "z@z.z")
            kept = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_a")
            kept_a, kept_c = _kept_recipients(conn, "env_a"), _kept_recipients(conn, "env_c")
            assert len(seen) == 2  # every read above came from what the batch keeps
            assert kept is not None and kept._mapping == _stored_envelope(conn, "env_a")
            assert kept.version == 1 and kept.completed_at == T1
            assert kept_a == _stored_recipients(conn, "env_a")
            assert kept_c == _stored_recipients(conn, "env_c")
            assert kept_c[0][1] == "c@example.com"  # the first sight's email
            # The kept row is the compare-and-set's current row: the next write succeeds.
            assert _complete(conn, kept)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def test_a_rolled_back_savepoint_restores_the_kept_rows(container: Container) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        _tracked(conn, "env_s")
    with db.transaction() as conn, chains.memoized_heads(conn):
        before = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_s")
        assert before is not None
        with pytest.raises(Failed), conn.begin_nested():
            assert _complete(conn, before)
            envelope_store.upsert_recipient(conn, before, "1", RecipientState.SENT, T0)
            raise Failed
        after = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_s")
        assert after is not None and after._mapping == _stored_envelope(conn, "env_s")
        assert after.version == 0 and _kept_recipients(conn, "env_s") == []
        # Another writer moved the row: the stale kept row fails its compare-and-set, and the
        # batch reads the row again once it forgets what it kept.
        conn.execute(envelopes.update().values(version=5).where(envelopes.c.id == "env_s"))
        assert not _complete(conn, after)
        forget_reads(conn)
        fresh = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_s")
        assert fresh is not None and fresh.version == 5 and _complete(conn, fresh)
    with db.reader() as conn:
        assert _stored_envelope(conn, "env_s")["completed_at"] == T1.astimezone(UTC)


def test_an_envelope_read_ahead_as_untracked_is_found_once_another_writer_tracks_it(
    container: Container,
) -> None:
    db = container.databases.home
    seen, listener = _selects(db.engine)
    try:
        with db.transaction() as conn, chains.memoized_heads(conn):
            envelope_store.read_ahead(conn, [("sandbox", "p-env_r")])
            assert envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_r") is None
            assert len(seen) == 1  # known untracked: not asked again
            envelope_store.insert(conn, envelope_values("env_r"))  # another writer's
            assert envelope_store.insert_tracked(conn, envelope_values("env_x")) is not None
            again = {**envelope_values("env_r"), "id": "env_r2"}  # the same vendor reference
            assert envelope_store.insert_tracked(conn, again) is None
            found = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_r")
            assert found is not None and found.id == "env_r"
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
