"""The kinds of change the outbox carries to destinations, and what each one's payload holds.

Every payload has ``correlation_id`` and, where a lead is known, ``lead`` =
``{id, email, first_name, last_name, company, owner, first_touch{...}, consent{kind: status},
marketing_allowed}``; envelope kinds also carry ``envelope`` =
``{id, state, provider, provider_envelope_id, template_key, template_version, milestones{},
delivery_failed, lead_id, document_url}`` and ``event`` = ``{kind, fact_key, occurred_at, ...}``.

- ``envelope.state_changed``: upsert the envelope's record (status, milestones, first touch, owner).
  Record key ``envelope:{id}``. Coalescable: only the newest state of a record needs sending.
- ``recipient.status_changed``, ``envelope.delivery_failed``, ``envelope.conflict_detected``,
  ``envelope.conflict_resolved``: event-stream kinds (outbound webhooks).
- ``lead.updated``: upsert the lead/contact (owner changed, fields). Record key ``lead:{id}``.
  Coalescable.
- ``contact.consent``: the lead's current consent per kind (``lead.consent``), to be written in
  the vendor's own representation (HubSpot subscription status, Salesforce
  ContactPointTypeConsent, Marketo ``unsubscribed``, Mautic do-not-contact, Dynamics
  ``donotemail``/``donotbulkemail``, Pipedrive ``marketing_status``). Record key ``lead:{id}``.
  Coalescable.
- ``journey.enter``: add the lead to a marketing journey; payload ``journey`` =
  ``{name, rule}`` (e.g. onboarding, nurture). A marketing action: never sent without marketing
  consent. Record key ``lead:{id}``. Not coalescable.
- ``marketing.suppress``: stop promotional messaging to the lead (deal won, no marketing
  consent). Record key ``lead:{id}``. Not coalescable.
- ``crm.task``: create a task for the CRM owner; payload ``task`` = ``{key, subject, body,
  owner, due_at}``. A plain insert: ``task.key`` is inkbridge's id of the task; connectors that
  can search by it check before creating when ``Change.uncertain``. Not coalescable.
- ``lead.erased``: the person asked to be erased (GDPR Art. 17); delete or anonymise them at the
  destination. Record key ``lead:{id}``. Not coalescable. Sent to every destination that may
  hold the region's data, whatever it subscribes to. Payload ``erasure`` = ``{id, lead_id,
  email, requested_at}`` plus ``lead`` = ``{id, email}``: the identifiers a vendor needs to
  find the person (the email, and the inkbridge lead id the CRMs key people by); nothing else
  of the person. A person the destination no longer holds (404/410) counts as erased, so a
  retry after a lost answer succeeds.
"""

from __future__ import annotations

ENVELOPE_STATE = "envelope.state_changed"
LEAD_UPDATED = "lead.updated"
CONTACT_CONSENT = "contact.consent"
JOURNEY_ENTER = "journey.enter"
MARKETING_SUPPRESS = "marketing.suppress"
CRM_TASK = "crm.task"
LEAD_ERASED = "lead.erased"

COALESCING_KINDS = frozenset({ENVELOPE_STATE, LEAD_UPDATED, CONTACT_CONSENT})
# Kinds that are marketing actions: checked against the lead's consent when sent, too.
MARKETING_ACTIONS = frozenset({JOURNEY_ENTER})
