"""The worker's statements run on the driver's cursor store and read values exactly as
SQLAlchemy does on both databases: rows read back through the tables (timestamps UTC-aware,
JSON as JSON, booleans as booleans, sealed fields opened), the compare-and-set still refuses a
stale version, driver errors arrive as SQLAlchemy's, and engine listeners see each statement."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, select
from sqlalchemy.exc import IntegrityError

from inkbridge.bootstrap import Container
from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.domain.lifecycle import EnvelopeState, RecipientState
from inkbridge.store import envelopes as envelope_store
from inkbridge.store import event_log, outbox
from inkbridge.store.driver_statements import DriverStatement
from inkbridge.store.schema import envelope_events, envelopes, recipients
from inkbridge.store.schema import outbox as outbox_table

T0 = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
# A moment given in another zone is stored as the same instant in UTC.
T1 = datetime(2026, 11, 2, 11, 45, 0, 5, tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))


def _tracked(conn: Connection, envelope_id: str) -> Any:
    return envelope_store.insert_tracked(conn, envelope_values(envelope_id))


def envelope_values(envelope_id: str) -> dict[str, Any]:
    """A tracked envelope of connection ``sandbox``, vendor reference ``p-<id>``, no lead."""
    return {
        "id": envelope_id,
        "region": "default",
        "lead_id": None,
        "connection": "sandbox",
        "provider": "sandbox",
        "provider_envelope_id": f"p-{envelope_id}",
        "template_key": None,
        "template_version": None,
        "correlation_id": "cor_1",
        "state": "created",
        "delivery_failed": False,
        "conflicts": [],
        "milestones": {},
        "attribution": {},
        "metadata": {"inkbridge_envelope_id": envelope_id, "note": "é"},
        "linked": False,
        "needs_reconcile": False,
        "version": 0,
        "created_at": T0,
        "updated_at": T0,
    }


def _through_table(conn: Connection, table: Any, *where: Any) -> dict[str, Any]:
    return dict(conn.execute(select(table).where(*where)).one()._mapping)


def test_envelope_reads_and_compare_and_set_match_sqlalchemy(container: Container) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        _tracked(conn, "env_drv")
        by_id = envelope_store.get(conn, "env_drv")
        by_ref = envelope_store.find_by_provider_ref(conn, "sandbox", "p-env_drv")
        assert by_id is not None and by_ref is not None
        stored = _through_table(conn, envelopes, envelopes.c.id == "env_drv")
        assert by_id._mapping == stored == by_ref._mapping
        assert by_id.created_at == T0 and by_id.created_at.tzinfo is not None
        assert by_id.delivery_failed is False and by_id.conflicts == [] and by_id.version == 0
        assert envelope_store.metadata_of(conn, by_id)["note"] == "é"
        assert envelope_store.get(conn, "env_missing") is None

        snapshot = envelope_store.snapshot_of(by_id, [])
        completed = replace(
            snapshot,
            state=EnvelopeState.COMPLETED,
            milestones={"sent_at": T0, "completed_at": T1},
            conflicts=frozenset({EnvelopeState.VOIDED}),
        )
        assert envelope_store.save_snapshot(conn, completed, current=by_id, now=T1)
        # The row it was derived from is stale now: the compare-and-set refuses it.
        assert not envelope_store.save_snapshot(conn, completed, current=by_id, now=T1)
        after = envelope_store.get(conn, "env_drv")
        assert after is not None
        assert after._mapping == _through_table(conn, envelopes, envelopes.c.id == "env_drv")
        assert after.version == 1 and after.state == "completed"
        assert after.completed_at == T1 and after.completed_at.tzinfo == UTC
        assert after.milestones == {"completed_at": T1.isoformat(), "sent_at": T0.isoformat()}
        assert after.conflicts == ["voided"]
        assert envelope_store.snapshot_of(after, []).milestones["completed_at"] == T1
        assert envelope_store.save_snapshot(
            conn, completed, current=after, now=T1, needs_reconcile=True
        )
        assert envelope_store.get(conn, "env_drv").needs_reconcile is True  # type: ignore[union-attr]


def test_recipients_upsert_and_read_match_sqlalchemy(container: Container) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        row = _tracked(conn, "env_rcp")
        envelope_store.upsert_recipient(
            conn, row, "1", RecipientState.SENT, T0, email="Signer@Example.com"
        )
        envelope_store.upsert_recipient(conn, row, "1", RecipientState.SIGNED, T1, email="x@y.z")
        envelope_store.upsert_recipient(conn, row, "0", RecipientState.VIEWED, T0)
        read = envelope_store.recipient_rows(conn, "env_rcp")
        assert [(r.recipient_id, r.status) for r in read] == [("0", "viewed"), ("1", "signed")]
        assert read[1].email == "Signer@Example.com"  # kept from the first sight, opened
        assert read[1].updated_at == T1 and read[1].updated_at.tzinfo == UTC
        stored = _through_table(
            conn,
            recipients,
            recipients.c.envelope_id == "env_rcp",
            recipients.c.recipient_id == "1",
        )
        assert stored["updated_at"] == read[1].updated_at
        assert stored["email"] != "Signer@Example.com"  # sealed at rest


def test_event_log_and_outbox_inserts_store_what_sqlalchemy_reads(container: Container) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        _tracked(conn, "env_log")
        event = NormalizedEvent(
            EventType.DOCUMENT_SENT, "sandbox", "p-env_log", T1, recipient_id="1"
        )
        seqs = [
            event_log.append(
                conn,
                region="default",
                envelope_id="env_log",
                receipt_id=7,
                event_index=index,
                event=event,
                received_at=T0,
                outcome="accepted",
                from_state="created",
                to_state="sent",
                correlation_id=None,
            )
            for index in range(2)
        ]
        stored = _through_table(conn, envelope_events, envelope_events.c.seq == seqs[1])
        assert seqs[1] > seqs[0] and stored["event_index"] == 1
        assert stored["occurred_at"] == T1 and stored["occurred_at"].tzinfo == UTC
        assert event_log.verify(conn, "default", "env_log", event_log.head(conn, "env_log")) is None

        queued: dict[str, Any] = {
            "region": "default",
            "destination": "crm",
            "idempotency_key": "k1",
            "record_key": "envelope:env_log",
            "kind": "envelope.state_changed",
            "payload": {"envelope": {"id": "env_log"}, "n": 1, "ok": True},
            "correlation_id": "cor_1",
            "now": T1,
        }
        assert outbox.enqueue(conn, **queued)
        assert not outbox.enqueue(conn, **queued)  # the same fact twice is one row
        row = conn.execute(select(outbox_table).where(outbox_table.c.idempotency_key == "k1"))
        got = outbox.outbox_row(conn, row.one())
        assert got.payload == queued["payload"] and got.status == "pending"
        assert got.created_at == T1 and got.created_at.tzinfo == UTC


def test_driver_errors_are_sqlalchemys_and_listeners_see_statements(
    container: Container,
) -> None:
    db = container.databases.home
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    insert = DriverStatement(recipients.insert())
    values = {
        "envelope_id": "env_err",
        "recipient_id": "1",
        "email": None,
        "name": None,
        "status": "sent",
        "updated_at": T0,
    }
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        with db.transaction() as conn:
            _tracked(conn, "env_err")
            assert insert.rowcount(conn, values) == 1
            with pytest.raises(IntegrityError), conn.begin_nested():
                insert.rowcount(conn, values)
            assert len(envelope_store.recipient_rows(conn, "env_err")) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert sum(s.startswith("INSERT INTO recipients") for s in seen) == 2


def test_statements_the_driver_path_cannot_run_as_sqlalchemy_would_are_refused(
    container: Container,
) -> None:
    expanding = select(envelopes.c.id).where(envelopes.c.id.in_(bindparam("ids", expanding=True)))
    with_defaults = DriverStatement(envelopes.insert(), column_keys=["id"])  # version's default
    with container.databases.home.transaction() as conn:
        with pytest.raises(NotImplementedError):
            DriverStatement(expanding).rows(conn, {"ids": ["env_1"]})
        with pytest.raises(NotImplementedError):
            with_defaults.rowcount(conn, {"id": "env_1"})
