"""The unit of work of one receipt: a savepoint in the worker's transaction, and the domain events
its accepted changes raised, dispatched to the handlers registered for their kind before the
savepoint is released — so a state change, its outbox rows, journeys and consent records commit
together or not at all (never published after commit)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from inkbridge.domain.events import DomainEvent
from inkbridge.domain.lifecycle import EnvelopeSnapshot


@dataclass(frozen=True)
class EnvelopeFact:
    """A domain event with the envelope it was raised on: everything a handler reads."""

    event: DomainEvent
    region: str
    envelope: Row[Any]
    snapshot: EnvelopeSnapshot  # the envelope after the change
    lead: dict[str, Any] | None  # the lead as outbound records carry it (routing.lead_payload)
    receipt_id: int
    correlation_id: str
    now: datetime
    # The envelope's copy of the first touch, opened (the row holds its URLs sealed).
    attribution: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Connection, EnvelopeFact], None]


class EventHandlers:
    """Handlers per domain-event kind. Those registered for every kind run first, in the order
    registered, then those of the event's kind."""

    def __init__(self) -> None:
        self._every: list[Handler] = []
        self._by_kind: dict[str, list[Handler]] = {}

    def on_every(self, handler: Handler) -> None:
        self._every.append(handler)

    def on(self, kind: str, handler: Handler) -> None:
        self._by_kind.setdefault(kind, []).append(handler)

    def dispatch(self, conn: Connection, fact: EnvelopeFact) -> None:
        for handler in (*self._every, *self._by_kind.get(fact.event.kind, ())):
            handler(conn, fact)


class UnitOfWork:
    """Collects the domain events of one receipt and hands them to their handlers."""

    def __init__(self, conn: Connection, handlers: EventHandlers) -> None:
        self.conn = conn
        self._handlers = handlers
        self._pending: list[EnvelopeFact] = []

    def collect(self, facts: Iterable[EnvelopeFact]) -> None:
        self._pending.extend(facts)

    def publish(self) -> None:
        """Run the handlers of every collected event, oldest first, in this transaction."""
        while self._pending:
            self._handlers.dispatch(self.conn, self._pending.pop(0))


@contextmanager
def unit_of_work(conn: Connection, handlers: EventHandlers) -> Iterator[UnitOfWork]:
    """A savepoint of its own: a receipt that fails rolls back alone; the others commit."""
    with conn.begin_nested():
        uow = UnitOfWork(conn, handlers)
        yield uow
        uow.publish()
