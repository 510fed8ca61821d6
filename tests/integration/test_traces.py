"""Traces of one webhook, with an in-memory span exporter: the worker's processing of its
receipt, the state change it applies, and the delivery of the resulting change to a
destination, tied together by the envelope's correlation id (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from inkbridge.bootstrap import Container
from inkbridge.store.schema import envelopes
from inkbridge.telemetry import CORRELATION_ID, TRACING
from tests.support.builders import event_body, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    TRACING.install(provider)
    yield exporter
    TRACING.install(None)
    provider.shutdown()


def _named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    parent_id = parent.context.span_id
    return [span for span in spans if span.parent and span.parent.span_id == parent_id]


async def test_one_webhook_is_traced_from_its_receipt_to_the_connector_call(
    container: Container, exported: InMemorySpanExporter
) -> None:
    fake = add_fake_destination(container, "crm", RecordingConnector())
    store_delivery(container.databases.home, event_body("document_sent", "prov-traced", T0))

    drain_receipts(container)
    await deliver_all(container)

    with container.databases.home.reader() as conn:
        correlation_id = conn.execute(select(envelopes.c.correlation_id)).scalar_one()
    spans = list(exported.get_finished_spans())

    [receipt] = _named(spans, "inkbridge.receipt")
    assert receipt.parent is None
    assert receipt.attributes is not None
    assert receipt.attributes["inkbridge.receipt.status"] == "done"
    assert receipt.attributes["inkbridge.connection"] == "sandbox"
    assert receipt.attributes[CORRELATION_ID] == correlation_id
    [event] = _children(spans, receipt)
    assert event.name == "inkbridge.envelope.event"
    assert event.attributes is not None
    assert event.attributes["inkbridge.event.type"] == "document_sent"
    assert event.attributes["inkbridge.event.outcome"] == "accepted"
    assert event.attributes[CORRELATION_ID] == correlation_id

    [batch] = _named(spans, "inkbridge.delivery.batch")
    assert batch.parent is None
    assert batch.attributes is not None
    assert batch.attributes["inkbridge.destination"] == "crm"
    assert batch.attributes["inkbridge.delivery.outcome"] == "delivered"
    assert list(batch.attributes["inkbridge.correlation_ids"]) == [correlation_id]  # type: ignore[arg-type]
    children = _children(spans, batch)
    [call] = [span for span in children if span.name == "inkbridge.connector.apply"]
    assert call.attributes is not None
    assert call.attributes["inkbridge.connector.result"] == "ok"
    changes = [span for span in children if span.name == "inkbridge.delivery.change"]
    assert len(changes) == len(fake.writes) >= 1
    for change in changes:
        assert change.attributes is not None
        assert change.attributes[CORRELATION_ID] == correlation_id
        assert change.attributes["inkbridge.delivery.outcome"] == "delivered"
        assert change.attributes["inkbridge.destination"] == "crm"


async def test_a_failed_delivery_is_traced_with_its_outcome(
    container: Container, exported: InMemorySpanExporter
) -> None:
    add_fake_destination(container, "crm", RecordingConnector(failures=["permanent"]))
    store_delivery(container.databases.home, event_body("document_sent", "prov-refused", T0))
    drain_receipts(container)
    await deliver_all(container)

    spans = list(exported.get_finished_spans())
    [batch] = _named(spans, "inkbridge.delivery.batch")
    assert batch.attributes is not None
    assert batch.attributes["inkbridge.delivery.outcome"] == "dead"
    [call] = [s for s in _children(spans, batch) if s.name == "inkbridge.connector.apply"]
    assert call.attributes is not None
    assert call.attributes["inkbridge.connector.result"] == "permanent"
