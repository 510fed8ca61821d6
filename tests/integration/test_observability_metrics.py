"""What operators see of the queues and the API: the queue gauges read from the store at scrape
time, the circuit state, the warning and the metric of a dead-lettered change, and the access
log, request ids and request metrics of the HTTP API (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.core import Metric
from sqlalchemy import select, update
from structlog.testing import capture_logs

from inkbridge import metrics
from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container
from inkbridge.metrics import REGISTRY
from inkbridge.services.admin import dead_letters
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.queue_gauges import QueueGauges
from inkbridge.store.schema import outbox, webhook_receipts
from tests.support.builders import event_body, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, drain_receipts

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _gauge(collector: QueueGauges, name: str, labels: dict[str, str]) -> float:
    families: list[Metric] = list(collector.collect())
    for family in families:
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels}")


def _counter(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _a_sent_envelope(container: Container) -> None:
    envelope_ref = f"prov-{uuid.uuid4().hex[:8]}"
    store_delivery(container.databases.home, event_body("document_sent", envelope_ref, T0))
    drain_receipts(container)


def _destination_name() -> str:
    return f"crm_{uuid.uuid4().hex[:8]}"


def test_the_backlog_its_oldest_age_and_the_worker_lag_are_read_from_the_store(
    container: Container,
) -> None:
    name = _destination_name()
    add_fake_destination(container, name, RecordingConnector())
    gauges = QueueGauges(container.databases, container.destinations)
    db = container.databases.home
    region = {"region": "default"}
    where = {"destination": name, "region": "default"}

    store_delivery(db, event_body("document_sent", "prov-lag", T0))
    with db.transaction() as conn:
        conn.execute(
            update(webhook_receipts).values(received_at=datetime.now(UTC) - timedelta(seconds=90))
        )
    assert _gauge(gauges, "inkbridge_inbox_backlog", region) == 1
    assert 90 <= _gauge(gauges, "inkbridge_worker_lag_seconds", region) < 150
    assert _gauge(gauges, "inkbridge_outbox_backlog", where) == 0
    assert _gauge(gauges, "inkbridge_outbox_oldest_pending_age_seconds", where) == 0

    drain_receipts(container)
    with db.transaction() as conn:
        owed = conn.execute(select(outbox.c.id).where(outbox.c.destination == name)).all()
        conn.execute(
            update(outbox)
            .where(outbox.c.destination == name)
            .values(created_at=datetime.now(UTC) - timedelta(seconds=120))
        )
    assert owed, "the state change was routed to the destination"
    assert _gauge(gauges, "inkbridge_inbox_backlog", region) == 0
    assert _gauge(gauges, "inkbridge_worker_lag_seconds", region) == 0
    assert _gauge(gauges, "inkbridge_outbox_backlog", where) == len(owed)
    assert 120 <= _gauge(gauges, "inkbridge_outbox_oldest_pending_age_seconds", where) < 180
    assert _gauge(gauges, "inkbridge_outbox_dead_letters", where) == 0
    assert _gauge(gauges, "inkbridge_queue_metrics_up", region) == 1


async def test_a_dead_lettered_change_logs_a_warning_and_shows_in_the_metrics(
    container: Container,
) -> None:
    name = _destination_name()
    add_fake_destination(container, name, RecordingConnector(failures=["permanent"]))
    gauges = QueueGauges(container.databases, container.destinations)
    _a_sent_envelope(container)
    dead_before = _counter(
        "inkbridge_outbox_delivered_total", {"destination": name, "outcome": "dead"}
    )

    with capture_logs() as logs:
        await deliver_once(
            DestinationRuntime.for_destination(container.destinations[name]),
            container.databases.home,
        )

    db = container.databases.home
    with db.reader() as conn:
        rows = conn.execute(
            select(outbox.c.status, outbox.c.last_error, outbox.c.correlation_id).where(
                outbox.c.destination == name
            )
        ).all()
    assert rows and all(row.status == "dead" for row in rows)
    assert all(row.last_error == "scripted refusal" for row in rows)
    warnings = [entry for entry in logs if entry["event"] == "outbox_dead_lettered"]
    assert len(warnings) == len(rows)
    for warning in warnings:
        assert warning["log_level"] == "warning"
        assert warning["destination"] == name
        assert warning["reason"] == "scripted refusal"
        assert warning["correlation_id"] == rows[0].correlation_id is not None
    listed = [d for d in dead_letters(container.databases, name)]
    assert [d["last_error"] for d in listed] == ["scripted refusal"] * len(rows)
    where = {"destination": name, "region": "default"}
    assert _gauge(gauges, "inkbridge_outbox_dead_letters", where) == len(rows)
    assert _gauge(gauges, "inkbridge_outbox_backlog", where) == 0
    dead_after = _counter(
        "inkbridge_outbox_delivered_total", {"destination": name, "outcome": "dead"}
    )
    assert dead_after - dead_before == len(rows)


async def test_a_destination_that_keeps_failing_shows_its_circuit_open(
    container: Container,
) -> None:
    name = _destination_name()
    fake = RecordingConnector(failures=["retry"])
    add_fake_destination(container, name, fake, circuit_failures=1, circuit_cooldown_seconds=60)
    _a_sent_envelope(container)
    runtime = DestinationRuntime.for_destination(container.destinations[name])

    await deliver_once(runtime, container.databases.home)

    state = "inkbridge_destination_circuit_state"
    assert _counter(state, {"destination": name, "state": "open"}) == 1
    assert _counter(state, {"destination": name, "state": "closed"}) == 0
    # While open, a pass sends nothing and the state stays open.
    assert await deliver_once(runtime, container.databases.home) == 0
    assert fake.calls == 1
    assert _counter(state, {"destination": name, "state": "open"}) == 1


def test_each_request_is_logged_by_route_template_with_its_request_id(
    container: Container,
) -> None:
    route = "/v1/envelopes/{envelope_id}"
    labels = {"route": route, "method": "GET", "status": "401"}
    before = _counter("inkbridge_http_requests_total", labels)
    with TestClient(create_app(container)) as client, capture_logs() as logs:
        given = client.get(
            "/v1/envelopes/env_1?email=sam@example.com", headers={"X-Request-Id": "abc-123.4"}
        )
        made = client.get("/v1/envelopes/env_2", headers={"X-Request-Id": "not ok <script>"})
        scraped = client.get("/metrics")

    assert given.headers["x-request-id"] == "abc-123.4"
    replaced = made.headers["x-request-id"]
    assert replaced.startswith("req_") and "script" not in replaced
    lines = [entry for entry in logs if entry["event"] == "http_request"]
    assert [(line["route"], line["status"]) for line in lines[:2]] == [(route, 401), (route, 401)]
    assert [line["request_id"] for line in lines[:2]] == ["abc-123.4", replaced]
    assert "example.com" not in repr(logs) and "env_1" not in repr(lines)
    assert _counter("inkbridge_http_requests_total", labels) - before == 2
    assert (
        _counter("inkbridge_http_request_duration_seconds_count", {"route": route, "method": "GET"})
        >= 2
    )
    assert f'route="{route}"' in scraped.text
    assert "inkbridge_outbox_backlog" in scraped.text


def test_a_circuit_state_sets_one_series_to_one() -> None:
    metrics.set_circuit_state("crm_states", "half_open")
    values = {
        state: _counter(
            "inkbridge_destination_circuit_state", {"destination": "crm_states", "state": state}
        )
        for state in metrics.CIRCUIT_STATES
    }
    assert values == {"closed": 0, "open": 0, "half_open": 1}
