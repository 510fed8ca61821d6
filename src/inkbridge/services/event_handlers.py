"""The side effects of an accepted envelope change, as handlers of its domain events: the audit
entry, the outbox rows of the destinations that subscribe (routing), the journeys a state change
fires, and the consent a completed signature gives. Registered per kind by ``envelope_handlers``;
the unit of work runs them in the transaction that accepted the change."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from inkbridge.config import TemplateSettings
from inkbridge.domain.journeys import JourneyRule
from inkbridge.services.journeys import record_signing_consent, run_journeys
from inkbridge.services.routing import Destination, enqueue_for
from inkbridge.services.unit_of_work import EnvelopeFact, EventHandlers
from inkbridge.store import audit

STATE_CHANGED = "envelope.state_changed"
# The URL of an envelope's document in inkbridge's API, by envelope id.
DocumentUrl = Callable[[str], str]


def outbound_payload(fact: EnvelopeFact, document_url: str) -> dict[str, Any]:
    """The record every destination receives for one domain event."""
    envelope, event, snapshot = fact.envelope, fact.event, fact.snapshot
    return {
        "event": {
            "kind": event.kind,
            "fact_key": event.fact_key,
            "occurred_at": event.occurred_at.isoformat(),
            **event.data,
        },
        "envelope": {
            "id": envelope.id,
            "state": snapshot.state.value,
            "provider": envelope.provider,
            "provider_envelope_id": envelope.provider_envelope_id,
            "template_key": envelope.template_key,
            "template_version": envelope.template_version,
            "milestones": {k: v.isoformat() for k, v in sorted(snapshot.milestones.items())},
            "delivery_failed": snapshot.delivery_failed,
            "lead_id": envelope.lead_id,
            "document_url": document_url,
        },
        "lead": fact.lead,
        "attribution": dict(fact.attribution),
        "correlation_id": envelope.correlation_id,
    }


def record_lifecycle_audit(conn: Connection, fact: EnvelopeFact) -> None:
    audit.record(
        conn,
        region=fact.region,
        actor="worker",
        action=f"lifecycle:envelope:{fact.event.kind.split('.', 1)[1]}",
        subject_id=fact.envelope.id,
        correlation_id=fact.correlation_id,
        details={"fact": fact.event.fact_key, "receipt_id": fact.receipt_id, **fact.event.data},
    )


@dataclass(frozen=True)
class OutboundRouting:
    """One outbox row per destination subscribed to the event's kind."""

    destinations: Mapping[str, Destination]
    document_url: DocumentUrl

    def __call__(self, conn: Connection, fact: EnvelopeFact) -> None:
        enqueue_for(
            conn,
            self.destinations,
            kind=fact.event.kind,
            region=fact.region,
            record_key=f"envelope:{fact.envelope.id}",
            fact_key=fact.event.fact_key,
            payload=outbound_payload(fact, self.document_url(fact.envelope.id)),
            correlation_id=fact.correlation_id,
            now=fact.now,
        )


@dataclass(frozen=True)
class JourneyActions:
    """The journey rules a lead's envelope reaching a state fires."""

    destinations: Mapping[str, Destination]
    rules: tuple[JourneyRule, ...]
    document_url: DocumentUrl

    def __call__(self, conn: Connection, fact: EnvelopeFact) -> None:
        if fact.lead is None:
            return
        payload = outbound_payload(fact, self.document_url(fact.envelope.id))
        run_journeys(conn, self.destinations, self.rules, fact, fact.lead, payload)


@dataclass(frozen=True)
class SigningConsent:
    """A completed envelope records the consent its template's bundle showed at signing."""

    # The templates, read at completion: each names its consent bundle (text version ids).
    templates: Mapping[str, TemplateSettings]

    def __call__(self, conn: Connection, fact: EnvelopeFact) -> None:
        if fact.lead is None or fact.event.data["to"] != "completed":
            return
        template = self.templates.get(fact.envelope.template_key or "")
        bundle = tuple(template.consent_bundle) if template else ()
        record_signing_consent(conn, bundle, fact.envelope, fact.lead["id"], fact.now)


def envelope_handlers(
    destinations: Mapping[str, Destination],
    rules: tuple[JourneyRule, ...],
    templates: Mapping[str, TemplateSettings],
    document_url: DocumentUrl,
) -> EventHandlers:
    """Every envelope event is audited and routed; a state change also runs journeys, then
    (on completion) records signing consent — in that order, as the outbox expects."""
    handlers = EventHandlers()
    handlers.on_every(record_lifecycle_audit)
    handlers.on_every(OutboundRouting(destinations, document_url))
    handlers.on(STATE_CHANGED, JourneyActions(destinations, rules, document_url))
    handlers.on(STATE_CHANGED, SigningConsent(templates))
    return handlers
