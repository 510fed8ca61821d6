"""Running the worker's two loops by hand in tests: draining stored receipts through
processing, and draining the outbox through a container's destinations; adding fake
destinations to a container; and storing lifecycles for one processing batch."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from inkbridge.bootstrap import Container
from inkbridge.config import DestinationSettings
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.routing import Destination
from inkbridge.store import outbox as outbox_store
from tests.support.builders import lifecycle_bodies, store_delivery
from tests.support.fakes import RecordingConnector


def drain_receipts(container: Container) -> None:
    """Process the home region's stored receipts until none is left to claim."""
    while container.services.receipts.process_pending(container.databases.home):
        pass


async def deliver_all(container: Container, rounds: int = 200) -> None:
    """Deliver the home region's outbox through every destination until nothing is pending."""
    runtimes = [DestinationRuntime.for_destination(d) for d in container.destinations.values()]
    db = container.databases.home
    for _ in range(rounds):
        with db.reader() as conn:
            if not outbox_store.pending_exists(conn):
                return
        for runtime in runtimes:
            await deliver_once(runtime, db)
        await asyncio.sleep(0.01)
    raise AssertionError("outbox did not drain")


def add_fake_destination(
    container: Container, name: str, fake: RecordingConnector, **settings: Any
) -> RecordingConnector:
    """Route ``container``'s outbox to ``fake`` as the coalescing destination ``name``;
    ``settings`` are its ``DestinationSettings`` (kind ``sandbox_crm`` unless given)."""
    configured = DestinationSettings.model_validate({"kind": "sandbox_crm", **settings})
    container.destinations[name] = Destination(name, configured, fake, coalesce=True)
    return fake


def one_batch_of_lifecycles(
    container: Container, prefix: str, started: datetime, count: int = 3
) -> list[int]:
    """Store ``count`` whole lifecycles (envelopes ``<prefix>_<n>``) as the home region's receipts,
    route the outbox to a fake CRM, and let one processing transaction take them all; returns
    the receipt ids in the order stored."""
    add_fake_destination(container, "crm", RecordingConnector())
    container.settings.worker.sqlite_transaction_seconds = 60.0  # one transaction for all
    db = container.databases.home
    return [
        store_delivery(db, body)
        for n in range(count)
        for body in lifecycle_bodies(f"{prefix}_{n}", started)
    ]
