"""Retention on real SQLite and PostgreSQL: with short windows a run purges what is due and
nothing else, keeps every receipt's dedup key (a replayed old delivery is still a duplicate) and
the evidence (chains verify), audits each purge, and a dry run changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, func, select, update

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container
from inkbridge.config_retention import RetentionSettings
from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.consent import verify_consent_chains
from inkbridge.services.leads import ConsentInput, LeadCapture, capture_lead
from inkbridge.services.replay import verify_chains
from inkbridge.services.retention import run_all
from inkbridge.store.database import RegionDatabase
from inkbridge.store.schema import (
    audit_log,
    deliveries,
    envelopes,
    leads,
    metadata,
    outbox,
    touchpoints,
    webhook_receipts,
)
from tests.support.builders import event_body, signed
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

NOW = datetime.now(UTC)
AGED = NOW - timedelta(days=10)
SHORT = RetentionSettings(
    receipt_bodies=timedelta(days=1),
    touchpoints=timedelta(days=30),
    unconverted_leads=timedelta(days=1),
    delivery_attempts=timedelta(days=1),
)


@dataclass
class World:
    container: Container
    db: RegionDatabase
    old_lead: str  # never got an envelope, captured ten days ago
    new_lead: str  # never got an envelope, captured now
    converted_lead: str  # got an envelope, captured ten days ago
    old_delivery: tuple[bytes, str]  # (body, webhook id) received ten days ago
    fresh_receipt: int


def _post(container: Container, body: bytes, msg_id: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(
                "/v1/webhooks/sandbox", content=body, headers=signed(body, msg_id)
            )

    return asyncio.run(go())


def _lead(container: Container, touch_at: datetime) -> str:
    return capture_lead(
        container.databases,
        LeadCapture(
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            first_name="Ada",
            company="Analytical Engines",
            anonymous_id=f"anon-{uuid.uuid4().hex[:8]}",
            touchpoints=(
                Touchpoint(
                    occurred_at=touch_at,
                    utm_campaign="autumn",
                    referrer="https://news.example/ada",
                ),
            ),
            consents=(ConsentInput(kind="marketing_email", status="granted"),),
            evidence_ip="203.0.113.9",
        ),
        destinations=container.destinations,
    )


def _age(conn: Connection, table: str, column: str, key: str, ids: list[object]) -> None:
    t = metadata.tables[table]
    conn.execute(update(t).where(t.c[key].in_(ids)).values({column: AGED}))


@pytest.fixture
def world(container: Container) -> Iterator[World]:
    add_fake_destination(
        container, "crm", RecordingConnector(name="crm"), backoff_base_seconds=0.01
    )
    db = container.databases.home
    old_touch = NOW - timedelta(days=60)
    old_lead, converted = _lead(container, old_touch), _lead(container, old_touch)
    new_lead = _lead(container, NOW - timedelta(minutes=5))
    # The converted lead's envelope: its events arrive through the webhook endpoint.
    sent = [
        (kind, NOW - timedelta(days=10, minutes=10 - i))
        for i, kind in enumerate(("document_sent", "document_viewed", "document_completed"))
    ]
    posted = []
    for kind, at in sent:
        body = event_body(kind, "prov-env-1", at, "1", {"inkbridge_lead_id": converted})
        msg_id = f"msg_{uuid.uuid4().hex}"
        assert _post(container, body, msg_id).headers["x-inkbridge-duplicate"] == "false"
        posted.append((body, msg_id))
    fresh = _post(container, event_body("document_viewed", "prov-env-2", NOW), "msg_fresh")
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    with db.transaction() as conn:
        old_receipts = [r.id for r in conn.execute(select(webhook_receipts.c.id))]
        old_receipts.remove(int(fresh.headers["x-inkbridge-receipt"]))
        _age(conn, "webhook_receipts", "received_at", "id", old_receipts)
        _age(conn, "leads", "created_at", "id", [old_lead, converted])
        old_outbox = [
            r.id for r in conn.execute(select(outbox.c.id).where(outbox.c.record_key != new_lead))
        ]
        _age(conn, "outbox", "created_at", "id", old_outbox)
    yield World(
        container,
        db,
        old_lead,
        new_lead,
        converted,
        posted[0],
        int(fresh.headers["x-inkbridge-receipt"]),
    )


def _counts(db: RegionDatabase) -> dict[str, int]:
    with db.reader() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in sorted(metadata.tables.items())
        }


def _sqlite_bytes(db: RegionDatabase) -> bytes | None:
    if not db.is_sqlite:
        return None
    path = db.url.removeprefix("sqlite:///")
    return Path(path).read_bytes()


def test_a_dry_run_says_what_is_due_and_changes_nothing(world: World) -> None:
    before, file_before = _counts(world.db), _sqlite_bytes(world.db)

    (run,) = run_all(world.container.databases, SHORT, source="cli", actor="cli", dry_run=True)

    assert _counts(world.db) == before
    assert _sqlite_bytes(world.db) == file_before
    due = {c.category.value: c.rows for c in run.categories}
    assert due["receipt_bodies"] == {"webhook_receipts": 3}
    assert due["unconverted_leads"] == {"leads": 1}
    assert due["touchpoints"]["touchpoints"] == 2
    assert due["delivery_attempts"]["outbox"] >= 1


def test_a_run_purges_what_is_due_and_keeps_dedup_keys_and_evidence(world: World) -> None:
    receipts_before = _counts(world.db)["webhook_receipts"]
    consents_before = _counts(world.db)["consent_records"]

    (run,) = run_all(world.container.databases, SHORT, source="cli", actor="cli")

    with world.db.reader() as conn:
        bodies = {r.id: (bytes(r.body), r.headers) for r in conn.execute(select(webhook_receipts))}
        lead_rows = {r.id: r for r in conn.execute(select(leads))}
        touches = conn.execute(select(touchpoints.c.lead_id)).scalars().all()
        live_outbox = conn.execute(select(outbox.c.record_key)).scalars().all()
        attempts = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        linked = conn.execute(select(envelopes.c.lead_id)).scalars().all()
        entries = conn.execute(
            select(audit_log.c.action, audit_log.c.subject_id, audit_log.c.details).where(
                audit_log.c.action == "cli:retention:purged"
            )
        ).all()
    # Receipt bodies past the window are gone, the rows and their dedup keys stay.
    assert len(bodies) == receipts_before
    assert bodies[world.fresh_receipt][0] != b""
    assert {k: v for k, v in bodies.items() if k != world.fresh_receipt} == {
        k: (b"", {}) for k in bodies if k != world.fresh_receipt
    }
    # The unconverted old lead keeps its id, loses its personal fields and touches.
    old = lead_rows[world.old_lead]
    assert (old.email, old.first_name, old.company, old.anonymous_id) == (None,) * 4
    assert old.purged_at is not None
    assert old.first_touch == {
        "occurred_at": old.first_touch["occurred_at"],
        "utm_campaign": "autumn",
        "utm_source": None,
        "utm_medium": None,
    }
    assert lead_rows[world.new_lead].email is not None
    assert lead_rows[world.converted_lead].email is not None
    assert world.converted_lead in linked
    assert sorted(set(touches)) == [world.new_lead]
    # Settled deliveries past the window are gone with their attempts.
    assert set(live_outbox) <= {world.new_lead}
    assert attempts == len(live_outbox)
    # Evidence is kept and still proves itself.
    assert _counts(world.db)["consent_records"] == consents_before
    assert verify_chains(world.container.databases) == []
    assert verify_consent_chains(world.container.databases) == []
    # Each purge is an audit entry with its counts.
    audited = {e.subject_id: e.details["rows"] for e in entries}
    assert audited["receipt_bodies"] == {"webhook_receipts": 3}
    # Touches run first: the old lead's touch went for its age, before the lead was purged.
    assert audited["touchpoints"]["touchpoints"] == 2
    assert audited["unconverted_leads"] == {"leads": 1, "touchpoints": 0}
    assert audited["delivery_attempts"]["outbox"] >= 1
    assert audited["delivery_attempts"]["deliveries"] >= 1
    assert {c.category.value: c.total for c in run.categories} == {
        name: sum(rows.values()) for name, rows in audited.items()
    }


def test_a_replayed_old_delivery_is_still_a_duplicate_after_its_body_is_purged(
    world: World,
) -> None:
    run_all(world.container.databases, SHORT, source="worker", actor="worker")
    receipts = _counts(world.db)["webhook_receipts"]
    body, msg_id = world.old_delivery

    replay = _post(world.container, body, msg_id)

    assert replay.status_code == 200
    assert replay.headers["x-inkbridge-duplicate"] == "true"
    assert _counts(world.db)["webhook_receipts"] == receipts


def test_a_second_run_finds_nothing_left_to_purge(world: World) -> None:
    run_all(world.container.databases, SHORT, source="cli", actor="cli")
    with world.db.reader() as conn:
        audited = conn.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.action.like("%retention%"))
        ).scalar_one()

    (again,) = run_all(world.container.databases, SHORT, source="cli", actor="cli")

    assert again.total == 0
    with world.db.reader() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.action.like("%retention%"))
            ).scalar_one()
            == audited
        )


def test_an_unconverted_lead_loses_its_touches_even_without_a_touchpoint_window(
    world: World,
) -> None:
    leads_only = RetentionSettings(unconverted_leads=timedelta(days=1))

    (run,) = run_all(world.container.databases, leads_only, source="cli", actor="cli")

    with world.db.reader() as conn:
        owners = set(conn.execute(select(touchpoints.c.lead_id)).scalars())
    assert owners == {world.new_lead, world.converted_lead}
    assert {c.category.value: c.rows for c in run.categories}["unconverted_leads"] == {
        "leads": 1,
        "touchpoints": 1,
    }


def test_the_worker_enforces_retention_on_its_own(world: World) -> None:
    from inkbridge.worker import Worker

    world.container.settings.retention = SHORT

    async def run_worker() -> None:
        worker = Worker(world.container)
        worker.start()
        try:
            for _ in range(200):
                with world.db.reader() as conn:
                    purged = conn.execute(
                        select(audit_log.c.subject_id).where(
                            audit_log.c.action == "worker:retention:purged"
                        )
                    ).scalars()
                    if set(purged) >= {"receipt_bodies", "unconverted_leads"}:
                        return
                await asyncio.sleep(0.05)
            raise AssertionError("the worker purged nothing")
        finally:
            await worker.stop()

    asyncio.run(run_worker())
    with world.db.reader() as conn:
        old = conn.execute(select(leads.c.email).where(leads.c.id == world.old_lead)).scalar()
    assert old is None
