"""How a batch of outbox changes becomes HubSpot writes: which contact, envelope record,
subscription statuses, list memberships and tasks each change asks for, with HubSpot's
property names.

Contacts are keyed by lower-cased email (HubSpot's upsert key for contacts); envelope records by
``inkbridge_envelope_id``. Several changes touching one record are merged into one input (later
changes win), because HubSpot refuses a batch that names the same id twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inkbridge.connectors import kinds
from inkbridge.connectors._crm_batch import (
    MergedRecord,
    Outcomes,
    merge,
    object_fields,
    task_key,
)
from inkbridge.connectors.base import Change
from inkbridge.connectors.fields import FIRST_TOUCH_NAMES, canonical_fields, map_fields
from inkbridge.domain.lifecycle import MILESTONES

ENVELOPE_KEY = "inkbridge_envelope_id"
TASK_KEY = "inkbridge_task_key"
STATUS_STATES = {"granted": "SUBSCRIBED", "denied": "UNSUBSCRIBED", "withdrawn": "UNSUBSCRIBED"}
CHANNELS = {"marketing_email": "EMAIL", "marketing_phone": "SMS"}
SUPPRESS_LIST = "suppress"
NO_EMAIL = "HubSpot contacts are keyed by email; the lead has none"

FIRST_TOUCH_FIELDS = {f"first_touch_{n}": f"inkbridge_first_touch_{n}" for n in FIRST_TOUCH_NAMES}
CONTACT_FIELDS: dict[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "owner": "hubspot_owner_id",
    "lead_id": "inkbridge_lead_id",
    "marketing_allowed": "inkbridge_marketing_allowed",
    **FIRST_TOUCH_FIELDS,
}
ENVELOPE_FIELDS: dict[str, str] = {
    "envelope_id": ENVELOPE_KEY,
    "envelope_status": "inkbridge_status",
    "provider": "inkbridge_provider",
    "provider_envelope_id": "inkbridge_provider_envelope_id",
    "template": "inkbridge_template",
    "template_version": "inkbridge_template_version",
    "delivery_failed": "inkbridge_delivery_failed",
    "document_url": "inkbridge_document_url",
    "correlation_id": "inkbridge_correlation_id",
    "lead_id": "inkbridge_lead_id",
    "owner": "hubspot_owner_id",
    **{m: f"inkbridge_{m}" for m in MILESTONES},
    **FIRST_TOUCH_FIELDS,
}


@dataclass(frozen=True)
class HubSpotOptions:
    """``options`` of a HubSpot destination (see ``hubspot.from_settings``)."""

    envelope_object: str = "deals"
    owners: Mapping[str, str] = field(default_factory=dict)
    subscriptions: Mapping[str, int] = field(default_factory=dict)
    lists: Mapping[str, str] = field(default_factory=dict)
    legal_basis: str = "CONSENT_WITH_NOTICE"
    legal_basis_explanation: str = "Consent recorded by inkbridge"
    deal_pipeline: str | None = None
    deal_stages: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StatusWrite:
    outbox_id: int
    email: str
    inputs: list[dict[str, Any]]


@dataclass
class Membership:
    outbox_id: int
    email: str
    list_id: str


@dataclass
class TaskWrite:
    outbox_id: int
    key: str
    properties: dict[str, str]
    email: str | None
    uncertain: bool


@dataclass
class HubSpotPlan:
    contacts: dict[str, MergedRecord] = field(default_factory=dict)
    envelopes: dict[str, MergedRecord] = field(default_factory=dict)
    statuses: list[StatusWrite] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    tasks: list[TaskWrite] = field(default_factory=list)


class HubSpotPlanner:
    """Turns changes into a ``HubSpotPlan``; changes it cannot write fail in ``Outcomes``."""

    def __init__(self, options: HubSpotOptions, overrides: Mapping[str, str]) -> None:
        self.options = options
        self.contact_fields = object_fields(CONTACT_FIELDS, overrides, "contact")
        self.envelope_fields = object_fields(ENVELOPE_FIELDS, overrides, "envelope")

    def plan(self, changes: Sequence[Change], outcomes: Outcomes) -> HubSpotPlan:
        plan = HubSpotPlan()
        for change in changes:
            fields = canonical_fields(change.record)
            if "owner" in fields:
                fields["owner"] = self.options.owners.get(fields["owner"], fields["owner"])
            if change.kind == kinds.ENVELOPE_STATE:
                self._envelope(plan, outcomes, change, fields)
            elif change.kind in (kinds.LEAD_UPDATED, kinds.CONTACT_CONSENT):
                email = self._contact(plan, change, fields)
                if email is None:
                    outcomes.fail([change.outbox_id], NO_EMAIL)
                elif change.kind == kinds.CONTACT_CONSENT:
                    self._consent(plan, change, email)
            elif change.kind in (kinds.JOURNEY_ENTER, kinds.MARKETING_SUPPRESS):
                self._membership(plan, outcomes, change, fields)
            elif change.kind == kinds.CRM_TASK:
                self._task(plan, outcomes, change, fields)
            # Any other kind (the event-stream kinds) is no CRM write: acknowledged, ignored.
        return plan

    def _contact(self, plan: HubSpotPlan, change: Change, fields: Mapping[str, str]) -> str | None:
        email = fields.get("email", "").strip().lower()
        if not email:
            return None
        props = map_fields(fields, self.contact_fields, {})
        props["email"] = email
        merge(plan.contacts, email, props, change)
        return email

    def _envelope(
        self, plan: HubSpotPlan, outcomes: Outcomes, change: Change, fields: Mapping[str, str]
    ) -> None:
        envelope_id = fields.get("envelope_id")
        if not envelope_id:
            outcomes.fail([change.outbox_id], "envelope change without an envelope id")
            return
        email = self._contact(plan, change, fields)
        props: dict[str, Any] = map_fields(fields, self.envelope_fields, {})
        props[ENVELOPE_KEY] = envelope_id
        if self.options.envelope_object == "deals":
            props.setdefault("dealname", f"{fields.get('template', 'Envelope')} {envelope_id}")
            if self.options.deal_pipeline:
                props.setdefault("pipeline", self.options.deal_pipeline)
            stage = self.options.deal_stages.get(fields.get("envelope_status", ""))
            if stage:
                props["dealstage"] = stage
        record = merge(plan.envelopes, envelope_id, props, change)
        record.contact = email or record.contact

    def _consent(self, plan: HubSpotPlan, change: Change, email: str) -> None:
        consent = change.record.lead_or_empty.consent
        inputs = []
        for kind, subscription in self.options.subscriptions.items():
            state = STATUS_STATES.get(str(consent.get(kind, "")))
            if state is None:
                continue
            item: dict[str, Any] = {
                "subscriberIdString": email,
                "subscriptionId": subscription,
                "channel": CHANNELS.get(kind, "EMAIL"),
                "statusState": state,
            }
            if state == "SUBSCRIBED":
                # GDPR-enabled portals refuse a subscription without the basis it rests on.
                item["legalBasis"] = self.options.legal_basis
                item["legalBasisExplanation"] = self.options.legal_basis_explanation
            inputs.append(item)
        if inputs:
            plan.statuses.append(StatusWrite(change.outbox_id, email, inputs))

    def _membership(
        self, plan: HubSpotPlan, outcomes: Outcomes, change: Change, fields: Mapping[str, str]
    ) -> None:
        journey = change.kind == kinds.JOURNEY_ENTER
        list_key = change.record.journey if journey else SUPPRESS_LIST
        list_id = self.options.lists.get(list_key)
        if list_id is None:
            return  # journeys belong to the marketing tool unless a HubSpot list is configured
        email = self._contact(plan, change, fields)
        if email is None:
            outcomes.fail([change.outbox_id], NO_EMAIL)
            return
        plan.memberships.append(Membership(change.outbox_id, email, list_id))

    def _task(
        self, plan: HubSpotPlan, outcomes: Outcomes, change: Change, fields: Mapping[str, str]
    ) -> None:
        key = task_key(change, outcomes)
        if key is None:
            return
        task = change.record.task
        email = self._contact(plan, change, fields)
        props = {
            TASK_KEY: key,
            "hs_task_subject": task.subject,
            "hs_task_body": task.body,
            "hs_timestamp": task.due_at or datetime.now(UTC).isoformat(),
            "hs_task_status": "NOT_STARTED",
            "hs_task_type": "TODO",
        }
        owner = task.owner or fields.get("owner") or ""
        if owner:
            props["hubspot_owner_id"] = self.options.owners.get(owner, owner)
        plan.tasks.append(TaskWrite(change.outbox_id, key, props, email, change.uncertain))
