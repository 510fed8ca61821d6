"""The unit of work of a receipt: handlers registered per domain-event kind run in the accepting
transaction, every-kind handlers first; a failing handler rolls back the receipt's savepoint
alone, never what the transaction wrote before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, create_engine, select

from inkbridge.domain.events import DomainEvent
from inkbridge.domain.lifecycle import EnvelopeSnapshot
from inkbridge.services.unit_of_work import EnvelopeFact, EventHandlers, Handler, unit_of_work

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("text", String, nullable=False),
)


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def _fact(conn: Connection, kind: str) -> EnvelopeFact:
    row = conn.execute(select(effects.c.seq.label("id"))).first()
    assert row is not None
    return EnvelopeFact(
        event=DomainEvent(kind=kind, envelope_id="env_1", fact_key=f"env_1:{kind}", occurred_at=T),
        region="eu",
        envelope=row,
        snapshot=EnvelopeSnapshot("env_1"),
        lead=None,
        receipt_id=1,
        correlation_id="cor_1",
        now=T,
    )


def _writer(label: str) -> Handler:
    def write(conn: Connection, fact: EnvelopeFact) -> None:
        conn.execute(effects.insert().values(text=f"{label}:{fact.event.kind}"))

    return write


def _written(conn: Connection) -> list[str]:
    return [r.text for r in conn.execute(select(effects.c.text).order_by(effects.c.seq))]


def test_handlers_run_per_kind_after_those_for_every_kind(conn: Connection) -> None:
    conn.execute(effects.insert().values(text="before"))
    handlers = EventHandlers()
    handlers.on("envelope.state_changed", _writer("journeys"))
    handlers.on_every(_writer("audit"))
    handlers.on_every(_writer("routing"))
    with unit_of_work(conn, handlers) as uow:
        uow.collect([_fact(conn, "envelope.state_changed"), _fact(conn, "envelope.viewed")])
    assert _written(conn) == [
        "before",
        "audit:envelope.state_changed",
        "routing:envelope.state_changed",
        "journeys:envelope.state_changed",
        "audit:envelope.viewed",
        "routing:envelope.viewed",
    ]


def test_publishing_hands_each_event_over_once(conn: Connection) -> None:
    conn.execute(effects.insert().values(text="before"))
    handlers = EventHandlers()
    handlers.on_every(_writer("audit"))
    with unit_of_work(conn, handlers) as uow:
        uow.collect([_fact(conn, "envelope.state_changed")])
        uow.publish()
        uow.publish()
    assert _written(conn) == ["before", "audit:envelope.state_changed"]


def test_a_failing_handler_rolls_back_the_receipt_alone(conn: Connection) -> None:
    conn.execute(effects.insert().values(text="before"))

    def refuse(conn: Connection, fact: EnvelopeFact) -> None:
        raise RuntimeError("the destination table is gone")

    handlers = EventHandlers()
    handlers.on_every(_writer("audit"))
    handlers.on("envelope.state_changed", refuse)
    with pytest.raises(RuntimeError), unit_of_work(conn, handlers) as uow:
        uow.collect([_fact(conn, "envelope.state_changed")])
        uow.publish()
    assert _written(conn) == ["before"]
