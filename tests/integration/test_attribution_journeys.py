"""Stored attribution journeys kept at write time: leads captured with touches, anonymous touches
recorded before and after capture (one arriving late, after the signature), envelopes completed
through the worker's pipeline and rebuilt by replay leave ``journey_touches`` exactly as a full
rebuild from the source rows does, on SQLite and PostgreSQL; and on PostgreSQL a touch
recorded while its lead's envelope completes is never lost."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inkbridge.bootstrap import Container, bootstrap
from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.leads import LeadCapture, capture_lead, record_touchpoint
from inkbridge.services.replay import rebuild_all
from inkbridge.services.reports import Model
from inkbridge.store import attribution_journeys, migrate
from inkbridge.store.attribution_query import CreditBy, attribution_credits
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.report_queries import ReportFilter
from inkbridge.store.schema import envelopes, journey_touches, touchpoints
from tests.integration.reports.dataset import dataset, load
from tests.support.builders import event_body, make_settings, store_delivery
from tests.support.worker import drain_receipts

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
H, DAY = timedelta(hours=1), timedelta(days=1)


def _visit(databases: Databases, touch: Touchpoint) -> None:
    """The browser's touch, as the server received it at the touch's own time."""
    record_touchpoint(databases, "anon-1", touch, received_at=touch.occurred_at)


def _receive(container: Container, body: bytes) -> None:
    store_delivery(container.databases.home, body)


def _events(container: Container, lead_id: str, ref: str, steps: list[tuple[str, Any]]) -> None:
    for kind, at in steps:
        recipient = None if kind in ("document_sent", "document_completed") else "1"
        _receive(container, event_body(kind, ref, at, recipient, {"inkbridge_lead_id": lead_id}))
    drain_receipts(container)


def _stored(container: Container) -> list[tuple[Any, ...]]:
    j = journey_touches.c
    with container.databases.home.reader() as conn:
        rows = conn.execute(select(journey_touches).order_by(j.envelope_id, j.position))
        return [tuple(row) for row in rows]


def _rebuilt(container: Container) -> list[tuple[Any, ...]]:
    with container.databases.home.transaction() as conn:
        attribution_journeys.rebuild(conn)
    return _stored(container)


def _channels(container: Container, lead_id: str) -> list[list[str]]:
    """Per conversion of the lead, its journey's channels in order."""
    j = journey_touches.c
    out: dict[str, list[str]] = {}
    with container.databases.home.reader() as conn:
        for envelope_id, channel in conn.execute(
            select(j.envelope_id, j.channel)
            .where(j.lead_id == lead_id)
            .order_by(j.envelope_id, j.position)
        ):
            out.setdefault(envelope_id, []).append(channel)
    return list(out.values())


def test_write_paths_keep_the_stored_journeys_equal_to_a_rebuild(
    tmp_path: Path, db_url: str
) -> None:
    container = bootstrap(make_settings(tmp_path, db_url), auto_migrate=True)
    databases = container.databases
    try:
        # A browser's visit before it is known, then two leads captured from it.
        _visit(databases, Touchpoint(T0 - 3 * DAY, utm_medium="email"))
        alice = capture_lead(
            databases,
            LeadCapture(
                email="alice@example.com",
                anonymous_id="anon-1",
                touchpoints=(Touchpoint(T0 - DAY, utm_medium="cpc", utm_campaign="autumn"),),
            ),
            now=T0,
        )
        bob = capture_lead(
            databases, LeadCapture(email="bob@example.com", anonymous_id="anon-1"), now=T0 + H
        )
        _visit(databases, Touchpoint(T0 + H, referrer="https://news.example.com/"))
        lifecycle = [
            ("document_sent", T0 + 2 * H),
            ("document_viewed", T0 + 3 * H),
            ("recipient_signed", T0 + DAY),
            ("document_completed", T0 + DAY),
        ]
        _events(container, alice, "sbx_alice", lifecycle)
        assert _channels(container, alice) == [["email", "cpc", "referral"]]
        assert _stored(container) == _rebuilt(container)

        # Recorded after Alice signed: a visit from before her signature joins her journey, one
        # from after it does not; both join Bob's, who signs later (same browser).
        _visit(databases, Touchpoint(T0 + 5 * H, utm_medium="social"))
        _visit(databases, Touchpoint(T0 + 3 * DAY, utm_medium="display"))
        assert _channels(container, alice) == [["email", "cpc", "referral", "social"]]
        _events(container, bob, "sbx_bob", [(k, at + 3 * DAY) for k, at in lifecycle])
        assert _channels(container, bob) == [["email", "referral", "social", "display"]]
        assert _stored(container) == _rebuilt(container)

        # A snapshot damaged behind the store's back (milestones and journey lost): replay
        # restores it from the event log, and the journey with it.
        with databases.home.transaction() as conn:
            bob_envelope = conn.execute(
                envelopes.update()
                .where(envelopes.c.provider_envelope_id == "sbx_bob")
                .values(milestones={}, state="created", sent_at=None, completed_at=None)
                .returning(envelopes.c.id)
            ).scalar_one()
            conn.execute(
                journey_touches.delete().where(journey_touches.c.envelope_id == bob_envelope)
            )
        assert _channels(container, bob) == []
        assert rebuild_all(databases).changed == [bob_envelope]
        assert _channels(container, bob) == [["email", "referral", "social", "display"]]
        assert _stored(container) == _rebuilt(container)

        # The stored journeys give the report the query-time assembly gives.
        for model in Model:
            assert _credits(container, model, assemble=False) == _credits(
                container, model, assemble=True
            )
    finally:
        databases.dispose()


def _credits(container: Container, model: Model, *, assemble: bool) -> dict[str, float]:
    db = container.databases.home
    statement = attribution_credits(
        ReportFilter(),
        models=[model],
        credit_by=CreditBy.CHANNEL,
        half_life_days=7.0,
        window=attribution_journeys.STORED_STITCH_WINDOW,
        dialect=db.engine.dialect.name,
        assemble=assemble,
    )
    with db.reader() as conn:
        return {key: round(float(value), 9) for key, value in conn.execute(statement)}


def _journey_of(db: RegionDatabase, envelope_id: str) -> list[str]:
    j = journey_touches.c
    with db.reader() as conn:
        query = select(j.channel).where(j.envelope_id == envelope_id).order_by(j.position)
        return list(conn.execute(query).scalars())


@pytest.mark.parametrize("first", ["touch", "completion"])
def test_a_touch_racing_a_completion_is_in_the_journey(pg_url: str, first: str) -> None:
    """PostgreSQL, two writers at once: a touch of a lead is recorded while its envelope
    completes. Whichever refreshes the journey first keeps its transaction open a moment; the
    other waits on the lead's lock and then sees its change, so the touch is never lost."""
    databases = Databases({"default": pg_url}, "default")
    try:
        migrate.upgrade_all(databases)
        db = databases.home
        data = dataset(lambda _i: "default")
        envelope = next(e for e in data["default"]["envelopes"] if e["id"] == "env-150")
        completed, envelope["completed_at"] = envelope["completed_at"], None
        load(databases, data)

        def touch(hold: float) -> None:
            with db.transaction() as conn:
                owners = attribution_journeys.lock_owners(conn, "lead-150", None)
                conn.execute(
                    touchpoints.insert().values(
                        region="default",
                        lead_id="lead-150",
                        occurred_at=completed - timedelta(minutes=5),
                        utm_medium="podcast",
                        click_ids={},
                    )
                )
                attribution_journeys.refresh_leads(conn, owners)
                time.sleep(hold)

        def complete(hold: float) -> None:
            with db.transaction() as conn:
                conn.execute(
                    envelopes.update()
                    .where(envelopes.c.id == "env-150")
                    .values(completed_at=completed)
                )
                attribution_journeys.refresh_envelopes(conn, ["env-150"])
                time.sleep(hold)

        early, late = (touch, complete) if first == "touch" else (complete, touch)
        ahead = threading.Thread(target=early, args=(0.4,))
        ahead.start()
        time.sleep(0.1)
        late(0.0)
        ahead.join()
        assert _journey_of(db, "env-150")[-1] == "podcast"
        with db.reader() as conn:
            kept = conn.execute(select(journey_touches).order_by(*journey_touches.primary_key))
            kept_rows = [tuple(r) for r in kept]
        with db.transaction() as conn:
            attribution_journeys.rebuild(conn)
        with db.reader() as conn:
            rebuilt = conn.execute(select(journey_touches).order_by(*journey_touches.primary_key))
            assert kept_rows == [tuple(r) for r in rebuilt]
    finally:
        databases.dispose()


def test_an_upgrade_from_before_the_table_fills_it_at_head(databases: Databases) -> None:
    db = databases.home
    load(databases, dataset(lambda _i: db.region))  # fills journey_touches by a rebuild
    j = journey_touches.c
    by_key = (j.envelope_id, j.position)
    with db.reader() as conn:
        expected = [tuple(r) for r in conn.execute(select(journey_touches).order_by(*by_key))]
    assert expected
    # The same rows in a database as revision 0006 left it: no table, conversions present.
    migrate.downgrade(db, "0007")
    with db.transaction() as conn:
        conn.exec_driver_sql("DROP TABLE journey_touches")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0006'")

    migrate.upgrade_all(databases)

    assert migrate.current_revision(db) == migrate.head_revision()
    with db.reader() as conn:
        assert [tuple(r) for r in conn.execute(select(journey_touches).order_by(*by_key))] == (
            expected
        )
    with db.transaction() as conn:
        assert attribution_journeys.ensure_built(conn) is False  # built already: left alone
