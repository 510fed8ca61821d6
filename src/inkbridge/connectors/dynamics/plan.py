"""How an outbox change becomes Dataverse writes: the contact, the envelope record and the task
it asks for, with their column names, lookups bound by alternate key and consent as the
contact's "do not" flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from inkbridge.connectors import kinds
from inkbridge.connectors._crm_batch import Outcomes, object_fields
from inkbridge.connectors.base import Change
from inkbridge.connectors.fields import FIRST_TOUCH_NAMES, canonical_fields, map_fields
from inkbridge.connectors.outbound import Task
from inkbridge.domain.lifecycle import MILESTONES

CONTACT_KEY = "inkbridge_leadid"
# The table is "inkbridge_envelopestatus" (after DocuSign's status object): a custom table's
# primary key is "<name>id", which leaves "inkbridge_envelopeid" free for the alternate key.
ENVELOPE_SET = "inkbridge_envelopestatuses"
ENVELOPE_KEY = "inkbridge_envelopeid"
TASK_KEY = "inkbridge_taskkey"
PERSON_KINDS = frozenset(
    {kinds.ENVELOPE_STATE, kinds.LEAD_UPDATED, kinds.CONTACT_CONSENT, kinds.CRM_TASK}
)
BOOLEAN_FIELDS = frozenset({"delivery_failed", "marketing_allowed"})
# Marketing consent maps onto the "do not" flags that stop bulk (marketing) sends. donotemail
# would also stop a salesperson's one-to-one mail, so it is only set when configured.
CONSENT_FLAGS = {"marketing_email": ("donotbulkemail",), "marketing_phone": ("donotphone",)}
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

FIRST_TOUCH_FIELDS = {
    f"first_touch_{n}": f"inkbridge_firsttouch_{n.replace('_', '')}" for n in FIRST_TOUCH_NAMES
}
CONTACT_FIELDS: dict[str, str] = {
    "lead_id": CONTACT_KEY,
    "email": "emailaddress1",
    "first_name": "firstname",
    "last_name": "lastname",
    "marketing_allowed": "inkbridge_marketingallowed",
    "owner": "ownerid",  # a lookup: written as ownerid@odata.bind to the systemuser
    **FIRST_TOUCH_FIELDS,
}
ENVELOPE_FIELDS: dict[str, str] = {
    "envelope_id": ENVELOPE_KEY,
    "envelope_status": "inkbridge_status",
    "provider": "inkbridge_provider",
    "provider_envelope_id": "inkbridge_providerenvelopeid",
    "template": "inkbridge_template",
    "template_version": "inkbridge_templateversion",
    "delivery_failed": "inkbridge_deliveryfailed",
    "document_url": "inkbridge_documenturl",
    "correlation_id": "inkbridge_correlationid",
    "owner": "ownerid",
    **{m: f"inkbridge_{m.replace('_', '')}" for m in MILESTONES},
    **FIRST_TOUCH_FIELDS,
}


def odata_key(entity_set: str, key: str, value: str) -> str:
    """``contacts(inkbridge_leadid='lead_1')``: quotes doubled, the value URL-encoded."""
    return f"{entity_set}({key}='{quote(value.replace(chr(39), chr(39) * 2), safe='')}')"


@dataclass(frozen=True)
class DynamicsOptions:
    """``options`` of a Dynamics destination (see ``dynamics.from_settings``)."""

    envelope_entity_set: str = ENVELOPE_SET
    envelope_contact_lookup: str = "inkbridge_contact"
    owners: Mapping[str, str] = field(default_factory=dict)
    donotemail_on_withdrawal: bool = False


@dataclass
class ChangeWrites:
    """What one change writes: the contact, the envelope record and/or a task."""

    change: Change
    lead_id: str | None = None
    contact: dict[str, Any] | None = None
    envelope_id: str | None = None
    envelope: dict[str, Any] | None = None
    task_key: str | None = None
    task: dict[str, Any] | None = None


class DynamicsPlanner:
    """Turns one change into its ``ChangeWrites``; changes it cannot write fail in
    ``Outcomes``, kinds that are no Dynamics write give None."""

    def __init__(self, options: DynamicsOptions, overrides: Mapping[str, str]) -> None:
        self._options = options
        self.contact_fields = object_fields(CONTACT_FIELDS, overrides, "contact")
        self.envelope_fields = object_fields(ENVELOPE_FIELDS, overrides, "envelope")

    def plan(self, change: Change, outcomes: Outcomes) -> ChangeWrites | None:
        canonical = canonical_fields(change.record)
        lead_id = canonical.get("lead_id")
        plan = ChangeWrites(change, lead_id)
        if change.kind in (kinds.LEAD_UPDATED, kinds.CONTACT_CONSENT) and not lead_id:
            outcomes.fail([change.outbox_id], "change without a lead id")
            return None
        if change.kind in PERSON_KINDS and lead_id and change.record.lead:
            plan.contact = self._fields(canonical, self.contact_fields)
            if change.kind == kinds.CONTACT_CONSENT:
                plan.contact.update(self._consent_flags(change))
        if change.kind == kinds.ENVELOPE_STATE:
            envelope_id = canonical.get("envelope_id")
            if not envelope_id:
                outcomes.fail([change.outbox_id], "envelope change without an envelope id")
                return None
            plan.envelope_id = envelope_id
            plan.envelope = self._fields(canonical, self.envelope_fields)
            if lead_id:
                lookup = f"{self._options.envelope_contact_lookup}@odata.bind"
                plan.envelope[lookup] = "/" + odata_key("contacts", CONTACT_KEY, lead_id)
        elif change.kind == kinds.CRM_TASK:
            task = change.record.task
            if not task.key:
                outcomes.fail([change.outbox_id], "task without a key")
                return None
            plan.task_key = task.key
            plan.task = self._task(task, lead_id)
        if plan.contact is None and plan.envelope is None and plan.task is None:
            return None  # journeys and event-stream kinds are no Dynamics write: ignored
        return plan

    def _owner_bind(self, owner: str, lookup: str = "ownerid") -> dict[str, str]:
        user = self._options.owners.get(owner, owner)
        return {f"{lookup}@odata.bind": f"/systemusers({user})"}

    def _fields(self, canonical: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, Any]:
        mapped: dict[str, Any] = map_fields(canonical, mapping, {})
        for name in BOOLEAN_FIELDS & canonical.keys():
            if mapping.get(name):
                mapped[mapping[name]] = canonical[name] == "true"
        owner_lookup = mapping.get("owner")
        if owner_lookup and canonical.get("owner"):
            mapped.pop(owner_lookup, None)
            mapped.update(self._owner_bind(canonical["owner"], owner_lookup))
        return mapped

    def _consent_flags(self, change: Change) -> dict[str, bool]:
        consent = change.record.lead_or_empty.consent
        flags: dict[str, bool] = {}
        for kind, columns in CONSENT_FLAGS.items():
            status = consent.get(kind)
            if status not in ("granted", "denied", "withdrawn"):
                continue
            blocked = status != "granted"
            for column in columns:
                flags[column] = blocked
            if kind == "marketing_email" and self._options.donotemail_on_withdrawal:
                flags["donotemail"] = blocked
        return flags

    def _task(self, task: Task, lead_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"subject": task.subject[:200], "description": task.body}
        if task.due_at:
            body["scheduledend"] = task.due_at
        if task.owner:
            body.update(self._owner_bind(task.owner))
        if lead_id:
            contact = "/" + odata_key("contacts", CONTACT_KEY, lead_id)
            body["regardingobjectid_contact@odata.bind"] = contact
        return body
