"""Replay over a few hundred envelopes, streamed in one snapshot: it corrects exactly the
envelopes whose rows disagree with their event logs, in batches, and never writes a rebuild over
a change the worker committed meanwhile."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from pathlib import Path

from click.testing import CliRunner

from inkbridge.cli import main
from inkbridge.domain.lifecycle import EnvelopeSnapshot, EnvelopeState, apply_event, replay
from inkbridge.services.replay import rebuild_all, rebuild_region, verify_chains
from inkbridge.store import audit, event_log, migrate
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.schema import envelopes, recipients
from tests.support.lifecycle_events import E, at, event

# Histories the envelopes cycle through: events out of order, two recipients, a conflicting
# terminal event, a delivery failure, and none at all.
History = list[tuple[E, int, str | None]]
HISTORIES: tuple[History, ...] = (
    [(E.DOCUMENT_SENT, 0, None), (E.DOCUMENT_VIEWED, 5, "1"), (E.RECIPIENT_SIGNED, 9, "1")],
    [(E.DOCUMENT_COMPLETED, 10, None), (E.DOCUMENT_SENT, 0, None), (E.RECIPIENT_SIGNED, 9, "1")],
    [(E.DOCUMENT_SENT, 0, None), (E.DOCUMENT_VIEWED, 3, "2"), (E.DOCUMENT_DECLINED, 8, "1")],
    [(E.DOCUMENT_SENT, 0, None), (E.DOCUMENT_VOIDED, 4, None), (E.DOCUMENT_EXPIRED, 6, None)],
    [(E.DOCUMENT_SENT, 0, None), (E.DOCUMENT_DELIVERY_FAILED, 1, "2"), (E.REMINDER_SENT, 60, None)],
    [],
)
COUNT = 300
_RECEIPTS = count(1)


def _id(index: int) -> str:
    # Mixed case and punctuation: ids a collation other than code point order would reorder.
    return f"env{'_-'[index % 2]}{'aB'[index % 3 % 2]}{(index * 7919) % 1009:04d}x{index}"


def _worker_writes(db: RegionDatabase, envelope_id: str, events: History) -> None:
    """Apply events to the envelope as the worker does: each appended to its event log, the
    row and recipients written over what they held, by compare-and-set."""
    with db.transaction() as conn:
        row = envelope_store.get(conn, envelope_id)
        assert row is not None
        snapshot = envelope_store.snapshot_of(row, envelope_store.recipient_rows(conn, envelope_id))
        for kind, minutes, recipient in events:
            applied = apply_event(snapshot, event(kind, minutes, recipient))
            event_log.append(
                conn,
                region=db.region,
                envelope_id=envelope_id,
                receipt_id=next(_RECEIPTS),
                event_index=0,
                event=event(kind, minutes, recipient),
                received_at=at(minutes) + timedelta(seconds=1),
                outcome=applied.outcome.value,
                from_state=snapshot.state.value,
                to_state=applied.snapshot.state.value,
                correlation_id=row.correlation_id,
            )
            snapshot = applied.snapshot
        assert envelope_store.save_snapshot(conn, snapshot, current=row, now=at(100))
        for recipient_id, status in snapshot.recipients.items():
            envelope_store.upsert_recipient(conn, row, recipient_id, status, at(100))


def _store_envelopes(db: RegionDatabase, envelopes_count: int = COUNT) -> list[str]:
    ids = [_id(i) for i in range(envelopes_count)]
    with db.transaction() as conn:
        for envelope_id in ids:
            values = {"id": envelope_id, "region": db.region, "connection": "sandbox"}
            envelope_store.insert(
                conn,
                values
                | {"provider": "fake", "provider_envelope_id": f"prov-{envelope_id}"}
                | {"correlation_id": f"cor-{envelope_id}", "state": "created", "version": 0}
                | {"delivery_failed": False, "conflicts": [], "milestones": {}}
                | {"created_at": at(0), "updated_at": at(0)},
            )
    for index, envelope_id in enumerate(ids):
        _worker_writes(db, envelope_id, HISTORIES[index % len(HISTORIES)])
    return sorted(ids)


def _stored(db: RegionDatabase, envelope_id: str) -> EnvelopeSnapshot:
    with db.reader() as conn:
        row = envelope_store.get(conn, envelope_id)
        assert row is not None
        return envelope_store.snapshot_of(row, envelope_store.recipient_rows(conn, envelope_id))


def _folded(db: RegionDatabase, envelope_id: str) -> EnvelopeSnapshot:
    with db.reader() as conn:
        log = event_log.for_envelope(conn, envelope_id)
        return replay(envelope_id, [event_log.as_normalized(e, "fake", "") for e in log])


def test_replay_corrects_exactly_the_wrong_envelopes_and_not_over_the_workers_change(
    databases: Databases,
) -> None:
    db = databases.home
    ids = _store_envelopes(db)
    assert rebuild_all(databases).changed == []

    # Damaged behind the store's back: a state, the milestones, a recipient's status; and
    # ``raced``, signed but not completed, which the worker completes while the replay runs.
    # With two damaged before it in id order, it is alone in its batch when the worker writes.
    history = {_id(i): HISTORIES[i % len(HISTORIES)] for i in range(COUNT)}
    raced = next(e for e in ids[2:-1] if history[e] == HISTORIES[0])
    lost_state, lost_milestones = ids[0], ids[1]
    lost_recipient = next(e for e in ids[ids.index(raced) + 1 :] if history[e] == HISTORIES[2])
    with db.transaction() as conn:
        for envelope_id in (lost_state, raced):
            conn.execute(
                envelopes.update().where(envelopes.c.id == envelope_id).values(state="created")
            )
        for envelope_id in (lost_milestones, raced):
            conn.execute(
                envelopes.update().where(envelopes.c.id == envelope_id).values(milestones={})
            )
        conn.execute(
            recipients.update()
            .where(recipients.c.envelope_id == lost_recipient, recipients.c.recipient_id == "1")
            .values(status="sent")
        )

    def worker_meanwhile(done: int, total: int) -> None:
        # Once the replay has read ``raced``, the worker completes it: on top of the damaged row
        # (still wrong after: its milestones but the completion stay lost).
        if done == ids.index(raced) + 1:
            _worker_writes(db, raced, [(E.DOCUMENT_COMPLETED, 30, None)])

    report = rebuild_region(db, worker_meanwhile, batch_size=2, progress_every=1)

    damaged = sorted([lost_state, lost_milestones, lost_recipient, raced])
    assert report.envelopes == COUNT
    assert report.changed == damaged
    # The worker's event is kept: the rebuild of ``raced`` folded it in, not written over it.
    assert _stored(db, raced).state is EnvelopeState.COMPLETED
    assert _stored(db, raced).milestones.keys() >= {"sent_at", "completed_at"}
    for envelope_id in ids:
        assert _stored(db, envelope_id) == _folded(db, envelope_id), envelope_id
    with db.reader() as conn:
        entries = audit.entries_about(conn, ids, ["replay:envelope:rebuilt"])
    assert sorted(e.details["to"] for e in entries) == sorted(
        _stored(db, envelope_id).state.value for envelope_id in damaged
    )
    assert len(entries) == len(damaged)
    assert verify_chains(databases) == []
    assert rebuild_all(databases).changed == []


def test_progress_hears_of_every_envelope_read(databases: Databases) -> None:
    ids = _store_envelopes(databases.home)
    heard: list[tuple[int, int]] = []
    rebuild_all(databases, lambda done, total: heard.append((done, total)))
    assert heard == [(len(ids), len(ids))]


def test_the_command_lists_the_envelopes_it_corrected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/default.db"
    databases = Databases({"default": url}, home_region="default")
    migrate.upgrade_all(databases)
    ids = _store_envelopes(databases.home, 12)
    with databases.home.transaction() as conn:
        conn.execute(envelopes.update().where(envelopes.c.id == ids[5]).values(state="created"))
    databases.dispose()
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[regions.default]\ndatabase_url = "{url}"\n'
    )

    result = CliRunner().invoke(main, ["replay", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"12 envelopes replayed, 1 corrected\n  corrected {ids[5]}\n")
