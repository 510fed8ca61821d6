"""The worker's pipeline on real databases: receipts → lifecycle → event log, audit, outbox →
delivery, with a fake destination whose failures are scripted."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from inkbridge.bootstrap import Container, bootstrap
from inkbridge.connectors.kinds import COALESCING_KINDS
from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.services.processing import SQLITE_CLAIM_CHUNK
from inkbridge.services.replay import rebuild_all, verify_chains
from inkbridge.store import outbox as outbox_store
from inkbridge.store import outbox_claims
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt
from inkbridge.store.schema import envelope_events, envelopes, outbox
from tests.support.builders import event_body, make_settings
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LIFECYCLE = [
    ("document_sent", None, 0),
    ("document_viewed", "1", 5),
    ("recipient_signed", "1", 9),
    ("document_completed", None, 10),
]


CRM_SETTINGS = {"max_attempts": 3, "backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.02}


def _receive(container: Container, body: bytes, msg_id: str | None = None) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        insert_receipt(
            conn,
            ReceiptRow(
                region="default",
                connection="sandbox",
                dedup_key=msg_id or uuid.uuid4().hex,
                source="webhook",
                content_type="application/json",
                headers={"webhook-id": msg_id or ""},
                body=body,
                received_at=datetime.now(UTC),
            ),
        )


def _events(envelope_ref: str) -> list[tuple[str, bytes]]:
    return [
        (f"msg_{envelope_ref}_{i}", event_body(kind, envelope_ref, T0 + timedelta(minutes=m), rec))
        for i, (kind, rec, m) in enumerate(LIFECYCLE)
    ]


def _process(container: Container, envelope_ref: str) -> None:
    """Store the envelope's whole lifecycle, in order, and process it."""
    for msg_id, body in _events(envelope_ref):
        _receive(container, body, msg_id)
    drain_receipts(container)


def _state(container: Container, provider_ref: str, column: str = "state") -> str:
    """The envelope's ``column`` (its state unless told), found by its provider's id."""
    with container.databases.home.reader() as conn:
        return str(
            conn.execute(
                select(envelopes.c[column]).where(envelopes.c.provider_envelope_id == provider_ref)
            ).scalar_one()
        )


def test_an_in_order_lifecycle_completes_and_reaches_the_destination(container: Container) -> None:
    fake = RecordingConnector()
    add_fake_destination(container, "crm", fake, **CRM_SETTINGS)
    _process(container, "sbx_1")
    assert _state(container, "sbx_1") == "completed"
    asyncio.run(deliver_all(container))
    assert fake.records["envelope:" + _state(container, "sbx_1", "id")]["state"] == "completed"
    assert sorted(fake.facts_written()) == sorted(set(fake.facts_written()))
    assert len(fake.facts_written()) == 4
    assert verify_chains(container.databases) == []


def test_shuffled_and_duplicated_receipts_converge_with_one_outbox_row_per_change(
    container: Container,
) -> None:
    fake = RecordingConnector()
    add_fake_destination(container, "crm", fake, **CRM_SETTINGS)
    rng = random.Random(7)
    deliveries = []
    for n in range(10):
        events = _events(f"sbx_{n}")
        deliveries += events + rng.sample(events, 2)
    rng.shuffle(deliveries)
    for msg_id, body in deliveries:
        _receive(container, body, msg_id)
    drain_receipts(container)
    with container.databases.home.reader() as conn:
        states = conn.execute(select(envelopes.c.state)).scalars().all()
        accepted = conn.execute(
            select(func.count()).where(envelope_events.c.outcome == "accepted")
        ).scalar_one()
        rows = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    assert states == ["completed"] * 10
    assert rows == accepted  # exactly one outbox row per accepted change
    asyncio.run(deliver_all(container))
    facts = fake.facts_written()
    assert len(facts) == len(set(facts)) == accepted


def test_a_destination_outage_is_retried_then_dead_lettered_and_replayable(
    container: Container,
) -> None:
    fake = RecordingConnector(failures=["retry", "retry", "retry"])
    add_fake_destination(container, "crm", fake, **CRM_SETTINGS)
    _process(container, "sbx_out")
    asyncio.run(deliver_all(container))
    with container.databases.home.reader() as conn:
        dead = outbox_store.list_dead(conn, "crm")
    assert dead and not fake.writes
    with container.databases.home.transaction() as conn:
        assert outbox_store.retry_dead(conn, datetime.now(UTC)) == len(dead)
    asyncio.run(deliver_all(container))
    assert [w["state"] for w in fake.writes] == ["completed"]  # coalesced to the newest state
    assert len(fake.facts_written()) == 4


def test_a_dead_workers_coalesced_claim_is_taken_over_whole(container: Container) -> None:
    fake = RecordingConnector()
    add_fake_destination(container, "crm", fake, **CRM_SETTINGS)
    _process(container, "sbx_dead")
    with container.databases.home.transaction() as conn:  # a worker claims, then dies
        claimed = outbox_claims.claim(
            conn,
            destination="crm",
            limit=10,
            lease_seconds=-1,
            now=datetime.now(UTC),
            whole_records=True,
        )
    assert len(claimed) == 4
    asyncio.run(deliver_all(container))
    assert [(w["state"], w["uncertain"]) for w in fake.writes] == [("completed", True)]
    assert len(fake.facts_written()) == 4


def test_per_record_order_holds_across_retries(container: Container) -> None:
    fake = RecordingConnector(failures=["retry"])
    add_fake_destination(container, "crm", fake, **CRM_SETTINGS)
    for kind, rec, minute in LIFECYCLE:
        _receive(container, event_body(kind, "sbx_o", T0 + timedelta(minutes=minute), rec))
        drain_receipts(container)
        asyncio.run(deliver_all(container))
    ranks = {"sent": 1, "viewed": 3, "partially_signed": 4, "completed": 9}
    seen = [ranks[w["state"]] for w in fake.writes]
    assert seen == sorted(seen)
    assert seen[-1] == 9


def test_a_webhook_for_an_unknown_envelope_is_tracked_unlinked(container: Container) -> None:
    add_fake_destination(container, "crm", RecordingConnector(), **CRM_SETTINGS)
    _receive(container, event_body("document_sent", "sbx_foreign", T0))
    drain_receipts(container)
    with container.databases.home.reader() as conn:
        row = conn.execute(
            select(envelopes).where(envelopes.c.provider_envelope_id == "sbx_foreign")
        ).one()
    assert row.state == "sent" and row.linked is False


def test_metadata_links_a_webhook_to_its_lead(container: Container) -> None:
    add_fake_destination(container, "crm", RecordingConnector(), **CRM_SETTINGS)
    lead_id = capture_lead(
        container.databases,
        LeadCapture(
            email="ada@example.com",
            touchpoints=(Touchpoint(occurred_at=T0, utm_campaign="spring"),),
        ),
    )
    body = event_body("document_sent", "sbx_meta", T0, metadata={"inkbridge_lead_id": lead_id})
    _receive(container, body)
    drain_receipts(container)
    with container.databases.home.reader() as conn:
        row = conn.execute(
            select(envelopes).where(envelopes.c.provider_envelope_id == "sbx_meta")
        ).one()
    assert row.lead_id == lead_id and row.linked is True
    assert row.attribution["utm_campaign"] == "spring"


def test_a_conflicting_terminal_event_keeps_the_state_and_asks_for_reconciliation(
    container: Container,
) -> None:
    add_fake_destination(container, "crm", RecordingConnector(), **CRM_SETTINGS)
    _receive(container, event_body("document_completed", "sbx_c", T0))
    _receive(container, event_body("document_declined", "sbx_c", T0 + timedelta(minutes=1)))
    drain_receipts(container)
    with container.databases.home.reader() as conn:
        row = conn.execute(
            select(envelopes).where(envelopes.c.provider_envelope_id == "sbx_c")
        ).one()
    assert row.state == "completed"
    assert row.conflicts == ["declined"] and row.needs_reconcile is True


def test_replay_rebuilds_a_corrupted_state_from_the_event_log(container: Container) -> None:
    add_fake_destination(container, "crm", RecordingConnector(), **CRM_SETTINGS)
    _process(container, "sbx_r")
    with container.databases.home.transaction() as conn:
        conn.execute(update(envelopes).values(state="sent", milestones={}))
    report = rebuild_all(container.databases)
    assert report.changed
    assert _state(container, "sbx_r") == "completed"


def test_tampering_with_the_event_log_is_detected(container: Container) -> None:
    add_fake_destination(container, "crm", RecordingConnector(), **CRM_SETTINGS)
    _process(container, "sbx_t")
    assert verify_chains(container.databases) == []
    with container.databases.home.transaction() as conn:
        conn.execute(text("UPDATE envelope_events SET outcome = 'stale' WHERE seq = 2"))
    breaks = verify_chains(container.databases)
    assert breaks and "envelope:" in breaks[0].chain


@pytest.mark.postgres
def test_two_workers_on_postgres_drain_one_outbox_without_delivering_twice(
    tmp_path: Path, pg_url: str
) -> None:
    fake = RecordingConnector(delay=0.005, max_batch=5)
    (tmp_path / "b").mkdir()
    # Two processes of one deployment: they share the region's key (here the managed key file).
    shared = {"data_dir": str(tmp_path / "data")}
    first, second = (
        bootstrap(make_settings(root, pg_url, **shared), auto_migrate=True)
        for root in (tmp_path, tmp_path / "b")
    )
    for worker in (first, second):
        add_fake_destination(worker, "crm", fake, **CRM_SETTINGS)
    for n in range(60):
        for msg_id, body in _events(f"sbx_pg{n}"):
            _receive(first, body, msg_id)

    def settled() -> bool:
        with first.databases.home.reader() as conn:
            receipts_open = conn.execute(
                text("SELECT COUNT(*) FROM webhook_receipts WHERE status <> 'done'")
            ).scalar_one()
            return receipts_open == 0 and not outbox_store.pending_exists(conn)

    async def work(container: Container) -> None:
        runtime = DestinationRuntime.for_destination(container.destinations["crm"])
        deadline = asyncio.get_running_loop().time() + 120
        while not await asyncio.to_thread(settled):
            assert asyncio.get_running_loop().time() < deadline, "workers did not drain"
            await asyncio.to_thread(
                container.services.receipts.process_pending, container.databases.home, 10
            )
            await deliver_once(runtime, container.databases.home)
            await asyncio.sleep(0.005)

    async def both() -> None:
        await asyncio.gather(work(first), work(second))

    asyncio.run(both())
    facts = fake.facts_written()
    assert len(facts) == len(set(facts))
    with first.databases.home.reader() as conn:
        accepted = conn.execute(
            select(func.count()).where(envelope_events.c.outcome == "accepted")
        ).scalar_one()
        states = conn.execute(select(envelopes.c.state)).scalars().all()
    assert states == ["completed"] * 60
    assert len(facts) == accepted


def test_replaying_an_overtaken_dead_letter_never_moves_a_record_back(container: Container) -> None:
    fake = RecordingConnector(failures=["retry", "retry", "retry"])
    add_fake_destination(container, "crm", fake, **CRM_SETTINGS)
    for msg_id, body in _events("sbx_ov")[:2]:  # sent, viewed: dead after three failures
        _receive(container, body, msg_id)
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    for msg_id, body in _events("sbx_ov")[2:]:  # signed, completed: delivered normally
        _receive(container, body, msg_id)
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    assert [w["state"] for w in fake.writes] == ["completed"]
    with container.databases.home.transaction() as conn:
        replayed = outbox_store.retry_dead(
            conn,
            datetime.now(UTC),
            coalescing=frozenset({"crm"}),
            coalescing_kinds=COALESCING_KINDS,
        )
    assert replayed == 0
    asyncio.run(deliver_all(container))
    assert [w["state"] for w in fake.writes] == ["completed"]  # nothing older re-sent


def test_on_sqlite_a_processing_transaction_stops_taking_receipts_when_its_time_is_up(
    container: Container,
) -> None:
    add_fake_destination(container, "crm", RecordingConnector(), **CRM_SETTINGS)
    for n in range(10):
        for msg_id, body in _events(f"sbx_budget_{n}"):
            _receive(container, body, msg_id)
    db = container.databases.home

    container.settings.worker.sqlite_transaction_seconds = 1e-9  # up after the first claim
    first = container.services.receipts.process_pending(db, 50)
    container.settings.worker.sqlite_transaction_seconds = 60.0
    second = container.services.receipts.process_pending(db, 50)

    if db.is_sqlite:
        assert first == SQLITE_CLAIM_CHUNK
        assert second == 40 - SQLITE_CLAIM_CHUNK
    else:  # one transaction per receipt there: the limit alone decides
        assert (first, second) == (40, 0)
    assert container.services.receipts.process_pending(db, 50) == 0
    assert {_state(container, f"sbx_budget_{n}") for n in range(10)} == {"completed"}
