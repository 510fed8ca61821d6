"""Routing business facts to destinations: who subscribes to a kind of change, who may hold the
region's data (residency), and the outbox rows that carry it — written in the caller's
transaction, so a fact and its deliveries commit together. A change about a golive test lead
carries the test mark (``golive_mark``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Connector
from inkbridge.domain.consent import ConsentKind, ConsentStatus, current_status
from inkbridge.domain.residency import may_send
from inkbridge.metrics import REGISTRY
from inkbridge.services.golive_mark import marked
from inkbridge.store import consents, outbox
from inkbridge.store import leads as lead_store

RESIDENCY_REFUSALS = Counter(
    "inkbridge_residency_refusals_total",
    "Outbox rows not written because the destination is not declared for the region.",
    ["destination"],
    registry=REGISTRY,
)


@dataclass
class Destination:
    """A configured destination and the connector that writes to it."""

    name: str
    settings: DestinationSettings
    connector: Connector
    # Upsert destinations only need the newest state of a record; event streams need every event.
    coalesce: bool


def route(
    destinations: Mapping[str, Destination],
    kind: str,
    region: str,
    *,
    role: str | None = None,
    names: Iterable[str] = (),
) -> list[Destination]:
    """Destinations subscribed to ``kind`` (of ``role``, or named) that may hold the region's
    personal data."""
    wanted = set(names)
    chosen = []
    for dest in destinations.values():
        if wanted and dest.name not in wanted:
            continue
        if not wanted and role is not None and dest.settings.effective_role != role:
            continue
        if kind not in dest.settings.subscribed_events:
            continue
        if not may_send(region, dest.settings.regions):
            RESIDENCY_REFUSALS.labels(dest.name).inc()
            continue
        chosen.append(dest)
    return chosen


def enqueue_for(
    conn: Connection,
    destinations: Mapping[str, Destination],
    *,
    kind: str,
    region: str,
    record_key: str,
    fact_key: str,
    payload: dict[str, Any],
    correlation_id: str | None,
    now: datetime,
    role: str | None = None,
    names: Iterable[str] = (),
) -> list[str]:
    """Write one outbox row per routed destination; returns the destination names."""
    payload = marked(payload)
    sent_to = []
    for dest in route(destinations, kind, region, role=role, names=names):
        outbox.enqueue(
            conn,
            region=region,
            destination=dest.name,
            idempotency_key=fact_key,
            record_key=record_key,
            kind=kind,
            payload=payload,
            correlation_id=correlation_id,
            now=now,
        )
        sent_to.append(dest.name)
    return sent_to


def consent_of(conn: Connection, lead_id: str) -> dict[str, str]:
    return current_status(consents.entries(conn, lead_id))


def marketing_allowed(consent: Mapping[str, str]) -> bool:
    return consent.get(ConsentKind.MARKETING_EMAIL.value) == ConsentStatus.GRANTED.value


def lead_payload(conn: Connection, lead_id: str | None) -> dict[str, Any] | None:
    """The lead as every outbound record carries it: contact fields, frozen first touch, owner,
    consent per kind, and whether marketing may reach it."""
    if lead_id is None:
        return None
    lead = lead_store.find(conn, lead_id)
    if lead is None:
        return None
    consent = consent_of(conn, lead_id)
    return {
        "id": lead["id"],
        "email": lead["email"],
        "first_name": lead["first_name"],
        "last_name": lead["last_name"],
        "company": lead["company"],
        "owner": lead["owner"],
        "first_touch": dict(lead["first_touch"] or {}),
        "consent": consent,
        "marketing_allowed": marketing_allowed(consent),
    }
