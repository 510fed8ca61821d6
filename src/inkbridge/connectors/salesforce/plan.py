"""How a batch of outbox changes becomes Salesforce records: the Lead (or Contact), the envelope
status record, the consent records and the Task each change asks for, with their field names.

Lookups are written as the parent's External ID (``"Lead__r": {"Inkbridge_Lead_Id__c": …}``),
so no Salesforce record id is ever needed. Each record remembers the lead it hangs from
(``parent``): the connector sends children of one parent together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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

LEAD_KEY = "Inkbridge_Lead_Id__c"
ENVELOPE_OBJECT = "Inkbridge_Envelope__c"
ENVELOPE_KEY = "Inkbridge_Envelope_Id__c"
TASK_KEY = "Inkbridge_Task_Key__c"
INDIVIDUAL_KEY = "Inkbridge_Individual_Id__c"
CONSENT_KEY = "Inkbridge_Consent_Key__c"
API_VERSION = "v60.0"
# Salesforce's own web-to-lead fills required fields it was not given with this.
NOT_PROVIDED = "[not provided]"
# The org's 24-hour quota frees up slowly: there is no point retrying within the hour.
LIMIT_RETRY_SECONDS = 3600.0
CONSENT_CHANNELS = {"marketing_email": "Email", "marketing_phone": "Phone"}
OPT = {"granted": "OptIn", "denied": "OptOut", "withdrawn": "OptOut"}
BOOLEAN_FIELDS = frozenset({"delivery_failed", "marketing_allowed"})
# Kinds whose lead is upserted too: the records they write look the lead up by its External ID.
PERSON_KINDS = frozenset(
    {kinds.ENVELOPE_STATE, kinds.LEAD_UPDATED, kinds.CONTACT_CONSENT, kinds.CRM_TASK}
)

FIRST_TOUCH_FIELDS = {
    f"first_touch_{n}": f"Inkbridge_First_Touch_{n.title()}__c" for n in FIRST_TOUCH_NAMES
}
LEAD_FIELDS: dict[str, str] = {
    "lead_id": LEAD_KEY,
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "company": "Company",
    "owner": "OwnerId",
    "marketing_allowed": "Inkbridge_Marketing_Allowed__c",
    **FIRST_TOUCH_FIELDS,
}
# Named after dsfs__DocuSign_Status__c's fields, so reports built on it translate directly.
# First touch is not on it by default (``envelope.first_touch_*`` in ``fields`` adds it).
ENVELOPE_FIELDS: dict[str, str] = {
    "envelope_id": ENVELOPE_KEY,
    "envelope_status": "Envelope_Status__c",
    "provider": "Provider__c",
    "provider_envelope_id": "Provider_Envelope_Id__c",
    "template": "Template__c",
    "template_version": "Template_Version__c",
    "delivery_failed": "Delivery_Failed__c",
    "document_url": "Document_Url__c",
    "correlation_id": "Correlation_Id__c",
    "owner": "OwnerId",
    "sent_at": "Sent_Date_Time__c",
    "first_viewed_at": "Viewed_Date_Time__c",
    "first_signed_at": "Signed_Date_Time__c",
    "completed_at": "Completed_Date_Time__c",
    "declined_at": "Declined_Date_Time__c",
    "voided_at": "Voided_Date_Time__c",
    "expired_at": "Expired_Date_Time__c",
    "delivery_failed_at": "Delivery_Failed_Date_Time__c",
    "first_reminder_at": "Reminder_Date_Time__c",
}


@dataclass(frozen=True)
class SalesforceOptions:
    """``options`` of a Salesforce destination (see ``salesforce.from_settings``)."""

    api_version: str = API_VERSION
    envelope_object: str = ENVELOPE_OBJECT
    person_object: str = "Lead"
    owners: Mapping[str, str] = field(default_factory=dict)
    data_use_purposes: Mapping[str, str] = field(default_factory=dict)
    limit_retry_seconds: float = LIMIT_RETRY_SECONDS


@dataclass
class SalesforcePlan:
    people: dict[str, MergedRecord] = field(default_factory=dict)
    individuals: dict[str, MergedRecord] = field(default_factory=dict)
    envelopes: dict[str, MergedRecord] = field(default_factory=dict)
    consents: dict[str, MergedRecord] = field(default_factory=dict)
    tasks: dict[str, MergedRecord] = field(default_factory=dict)


class SalesforcePlanner:
    """Turns changes into a ``SalesforcePlan``; changes it cannot write fail in ``Outcomes``."""

    def __init__(self, options: SalesforceOptions, overrides: Mapping[str, str]) -> None:
        self.options = options
        person_defaults = dict(LEAD_FIELDS)
        if options.person_object != "Lead":
            person_defaults.pop("company")  # Contacts hang off an Account instead
        self.person_fields = object_fields(person_defaults, overrides, "person")
        self.envelope_fields = object_fields(ENVELOPE_FIELDS, overrides, "envelope")

    def _fields(self, canonical: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, Any]:
        mapped: dict[str, Any] = map_fields(canonical, mapping, {})
        for name in BOOLEAN_FIELDS & canonical.keys():
            if mapping.get(name):
                mapped[mapping[name]] = canonical[name] == "true"
        return mapped

    def plan(self, changes: Sequence[Change], outcomes: Outcomes) -> SalesforcePlan:
        plan = SalesforcePlan()
        for change in changes:
            canonical = canonical_fields(change.record)
            if "owner" in canonical:
                owner = canonical["owner"]
                canonical["owner"] = self.options.owners.get(owner, owner)
            lead_id = canonical.get("lead_id")
            if change.kind in (kinds.LEAD_UPDATED, kinds.CONTACT_CONSENT) and not lead_id:
                outcomes.fail([change.outbox_id], "change without a lead id")
                continue
            if change.kind in PERSON_KINDS and lead_id and change.record.lead:
                merge(plan.people, lead_id, self._fields(canonical, self.person_fields), change)
            if change.kind == kinds.ENVELOPE_STATE:
                self._envelope(plan, outcomes, change, canonical, lead_id)
            elif change.kind == kinds.CONTACT_CONSENT and lead_id:
                self._consent(plan, change, lead_id)
            elif change.kind == kinds.CRM_TASK:
                self._task(plan, outcomes, change, lead_id)
            # journey.enter / marketing.suppress belong to the marketing tool; event-stream
            # kinds are no CRM writes: both are acknowledged and ignored.
        return plan

    def _envelope(
        self,
        plan: SalesforcePlan,
        outcomes: Outcomes,
        change: Change,
        canonical: Mapping[str, str],
        lead_id: str | None,
    ) -> None:
        fields = self._fields(canonical, self.envelope_fields)
        envelope_id = canonical.get("envelope_id")
        if not envelope_id:
            outcomes.fail([change.outbox_id], "envelope change without an envelope id")
            return
        if lead_id:
            fields[f"{self.options.person_object}__r"] = {LEAD_KEY: lead_id}
        merge(plan.envelopes, envelope_id, fields, change, parent=lead_id or "")

    def _consent(self, plan: SalesforcePlan, change: Change, lead_id: str) -> None:
        lead, at = change.record.lead_or_empty, change.record.occurred_at
        consent = lead.consent
        individual = {INDIVIDUAL_KEY: lead_id, "LastName": lead.last_name or NOT_PROVIDED}
        if lead.first_name:
            individual["FirstName"] = lead.first_name
        merge(plan.individuals, lead_id, individual, change, parent=lead_id)
        person = plan.people.setdefault(lead_id, MergedRecord(lead_id))
        person.fields["Individual"] = {INDIVIDUAL_KEY: lead_id}
        if consent.get("marketing_email") in OPT:
            person.fields["HasOptedOutOfEmail"] = consent["marketing_email"] != "granted"
        for kind, channel in CONSENT_CHANNELS.items():
            status = OPT.get(str(consent.get(kind, "")))
            if status is None:
                continue
            record: dict[str, Any] = {
                "Name": f"{kind} ({lead_id})"[:80],
                "Party": {INDIVIDUAL_KEY: lead_id},
                "ContactPointType": channel,
                "PrivacyConsentStatus": status,
                "CaptureSource": "inkbridge",
            }
            if at:
                record["EffectiveFrom"] = record["CaptureDate"] = at
            purpose = self.options.data_use_purposes.get(kind)
            if purpose:
                record["DataUsePurposeId"] = purpose
            merge(plan.consents, f"{lead_id}:{kind}", record, change, parent=lead_id)

    def _task(
        self, plan: SalesforcePlan, outcomes: Outcomes, change: Change, lead_id: str | None
    ) -> None:
        key = task_key(change, outcomes)
        if key is None:
            return
        task = change.record.task
        # Status is left out: Salesforce defaults it on insert, and a retry (an upsert) must
        # not reopen a task the owner has meanwhile completed.
        record: dict[str, Any] = {
            "Subject": task.subject[:255],
            "Description": task.body,
        }
        if task.due_at:
            record["ActivityDate"] = task.due_at[:10]
        owner = task.owner
        if owner:
            record["OwnerId"] = self.options.owners.get(owner, owner)
        if lead_id:
            # Who is polymorphic: a lookup by External ID names the parent's type.
            person = self.options.person_object
            record["Who"] = {"attributes": {"type": person}, LEAD_KEY: lead_id}
        merge(plan.tasks, key, record, change, parent=lead_id or "")
