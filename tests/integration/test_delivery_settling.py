"""A batch whose changes end differently settles each as its own outcome, in one transaction:
the delivered record's older changes superseded, a retryable change back to pending with its
attempt counted and a later due time, a refused one dead, every attempt logged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.connectors.kinds import ENVELOPE_STATE
from inkbridge.domain.queue_states import OutboxStatus
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.routing import Destination
from inkbridge.store import outbox
from inkbridge.store.database import Databases
from inkbridge.store.schema import deliveries
from inkbridge.store.schema import outbox as outbox_table


@dataclass
class ScriptedConnector:
    """Answers each record as scripted: 'ok', 'retry' or 'refuse' (a fake vendor)."""

    answers: dict[str, str]
    name: str = "scripted"
    max_batch: int = 100
    seen: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        results = []
        for change in changes:
            self.seen.append((change.record_key, change.fact_keys))
            answer = self.answers[change.record_key]
            results.append(
                ChangeResult(
                    outbox_id=change.outbox_id,
                    ok=answer == "ok",
                    retryable=answer == "retry",
                    error=None if answer == "ok" else f"vendor said {answer}",
                )
            )
        return BatchResult(results=results)


def test_a_batch_of_mixed_outcomes_settles_each_change_as_its_own(
    databases: Databases,
) -> None:
    db = databases.home
    now = datetime.now(UTC) - timedelta(seconds=5)
    with db.transaction() as conn:
        for record, facts in (("env-ok", 3), ("env-retry", 2), ("env-refused", 1)):
            for n in range(facts):
                outbox.enqueue(
                    conn,
                    region="default",
                    destination="crm",
                    idempotency_key=f"{record}-{n}",
                    record_key=record,
                    kind=ENVELOPE_STATE,
                    payload={"envelope": {"id": record, "state": f"s{n}"}},
                    correlation_id=None,
                    now=now,
                )
    connector = ScriptedConnector({"env-ok": "ok", "env-retry": "retry", "env-refused": "refuse"})
    settings = DestinationSettings.model_validate({"kind": "sandbox_crm", "max_attempts": 3})
    runtime = DestinationRuntime.for_destination(
        Destination("crm", settings, connector, coalesce=True)
    )

    attempted = asyncio.run(deliver_once(runtime, db))

    assert attempted == 3  # one coalesced change per record
    assert sorted(connector.seen) == [
        ("env-ok", ("env-ok-0", "env-ok-1", "env-ok-2")),
        ("env-refused", ("env-refused-0",)),
        ("env-retry", ("env-retry-0", "env-retry-1")),
    ]
    with db.reader() as conn:
        rows = {r.idempotency_key: r for r in conn.execute(select(outbox_table))}
        logged = sorted(
            (r.outbox_id, r.outcome, r.attempt) for r in conn.execute(select(deliveries))
        )
    assert [rows[f"env-ok-{n}"].status for n in range(3)] == [
        OutboxStatus.SUPERSEDED,
        OutboxStatus.SUPERSEDED,
        OutboxStatus.DELIVERED,
    ]
    for key in ("env-retry-0", "env-retry-1"):
        row = rows[key]
        assert (row.status, row.attempts, row.last_error) == (
            OutboxStatus.PENDING,
            1,
            "vendor said retry",
        )
        assert row.next_attempt_at > now + timedelta(seconds=5)
        assert row.lease_until is None
    # The changes of one record that failed together retry together.
    assert rows["env-retry-0"].next_attempt_at == rows["env-retry-1"].next_attempt_at
    refused = rows["env-refused-0"]
    assert (refused.status, refused.attempts, refused.last_error) == (
        OutboxStatus.DEAD,
        1,
        "vendor said refuse",
    )
    outcome = {"env-ok": "delivered", "env-retry": "retry", "env-refused": "dead"}
    assert logged == sorted((int(r.id), outcome[r.record_key], 1) for r in rows.values())
