"""Running journey rules on envelope state changes, and recording the consent a signature
gives — both inside the transaction that accepted the state change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from inkbridge.config import JourneySettings
from inkbridge.domain.journeys import ACTION_ROLES, DEFAULT_RULES, JourneyRule, evaluate
from inkbridge.services.routing import Destination, enqueue_for
from inkbridge.services.unit_of_work import EnvelopeFact
from inkbridge.store import audit
from inkbridge.store.schema import consent_texts


def journey_rules(configured: Sequence[JourneySettings] | None) -> tuple[JourneyRule, ...]:
    """The journey rules of the configuration (built once, at start), or the default ones."""
    if configured is None:
        return DEFAULT_RULES
    return tuple(
        JourneyRule(
            name=j.name,
            on_state=j.on_state,
            action=j.action,
            journey=j.journey,
            task_subject=j.task_subject,
            requires_marketing_consent=j.requires_marketing_consent,
            without_marketing_consent=j.without_marketing_consent,
            destinations=tuple(j.destinations),
        )
        for j in configured
    )


def run_journeys(
    conn: Connection,
    destinations: Mapping[str, Destination],
    rules: tuple[JourneyRule, ...],
    fact: EnvelopeFact,
    lead: dict[str, Any],
    payload: dict[str, Any],
) -> None:
    """The journey rules a lead's envelope reaching a state fires: one outbox row per action
    and destination, and an audit entry per firing."""
    region, envelope_id, now = fact.region, fact.envelope.id, fact.now
    correlation_id, to_state = fact.correlation_id, str(fact.event.data["to"])
    for firing in evaluate(rules, envelope_id, to_state, bool(lead.get("marketing_allowed"))):
        action_payload = {**payload, "journey": firing.data}
        record_key = f"lead:{lead['id']}"
        if firing.kind == "crm.task":
            record_key = f"task:{firing.fact_key}"
            action_payload["task"] = {
                "key": firing.fact_key,
                "subject": firing.data.get("subject", "Follow up"),
                "body": f"Envelope {envelope_id} is {to_state}.",
                "owner": lead.get("owner"),
                "due_at": (now + timedelta(days=1)).isoformat(),
            }
        sent_to = enqueue_for(
            conn,
            destinations,
            kind=firing.kind,
            region=region,
            record_key=record_key,
            fact_key=firing.fact_key,
            payload=action_payload,
            correlation_id=correlation_id,
            now=now,
            role=ACTION_ROLES[firing.rule.action],
            names=firing.rule.destinations,
        )
        audit.record(
            conn,
            region=region,
            actor="worker",
            action=f"journey:lead:{firing.rule.action}",
            subject_id=lead["id"],
            correlation_id=correlation_id,
            details={"rule": firing.rule.name, "envelope_id": envelope_id, "to": sent_to},
        )


def record_signing_consent(
    conn: Connection, bundle: Sequence[str], envelope: Any, lead_id: str, now: datetime
) -> None:
    """A completed envelope is consent to execute the contract, and to whatever texts its
    template's consent bundle showed at signing: append those records to the ledger."""
    from inkbridge.services.leads import ConsentInput, append_consent

    texts = {}
    if bundle:
        rows = conn.execute(select(consent_texts).where(consent_texts.c.id.in_(bundle))).all()
        texts = {r.id: r for r in rows}
    entries = [
        ConsentInput(
            kind="contract_execution",
            status="granted",
            method="e_signature",
            source=f"envelope:{envelope.id}",
        )
    ]
    for version_id in bundle:
        text = texts.get(version_id)
        if text is None:
            continue
        entries.append(
            ConsentInput(
                kind=text.kind,
                status="granted",
                text_version_id=text.id,
                text_sha256=text.sha256,
                locale=text.locale,
                jurisdiction=text.jurisdiction,
                method="e_signature",
                source=f"envelope:{envelope.id}",
            )
        )
    for entry in entries:
        append_consent(conn, envelope.region, lead_id, entry, {"envelope_id": envelope.id}, now)
