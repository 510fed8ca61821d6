"""Canonical fields of an outbox change, and the config-driven mapping onto vendor properties.

Every connector starts from the same flat view of a change (``canonical_fields``), then renames
fields with its default mapping overlaid by ``[destinations.NAME.fields]`` from config. A field
mapped to an empty string is not written at all.

Canonical names:
  envelope_id, envelope_status, provider, provider_envelope_id, template, template_version,
  delivery_failed, document_url (a pointer, never the document), correlation_id, lead_id,
  email, first_name, last_name, company, owner,
  <milestone> (sent_at, first_viewed_at, first_signed_at, completed_at, declined_at, voided_at,
  expired_at, delivery_failed_at, first_reminder_at),
  first_touch_<utm field>, first_touch_referrer, first_touch_landing_page, first_touch_at,
  first_touch_<click id>   (FIRST_TOUCH fields: write only when the vendor's value is empty),
  consent_<kind> (granted | denied | withdrawn), marketing_allowed (true | false),
  test ("true" on a change about an ``inkbridge golive`` test lead, absent otherwise; no
  connector maps it by default: map it to a vendor property, e.g.
  ``[destinations.crm.fields] test = "inkbridge_test__c"``, to keep the mark there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inkbridge.connectors.outbound import FirstTouch, OutboundRecord, text
from inkbridge.domain.attribution import CLICK_IDS, UTM_FIELDS

FIRST_TOUCH_PREFIX = "first_touch_"
# The first-touch names after ``first_touch_``, in the order vendors' fields are declared.
FIRST_TOUCH_NAMES = (*UTM_FIELDS, "referrer", "landing_page", "at", *CLICK_IDS)


def canonical_fields(record: OutboundRecord) -> dict[str, str]:
    """The flat, vendor-neutral view of one change (missing values left out)."""
    envelope, lead = record.envelope, record.lead_or_empty
    first = lead.first_touch
    fields: dict[str, str | None] = {
        "envelope_id": envelope.id,
        "envelope_status": envelope.state,
        "provider": envelope.provider,
        "provider_envelope_id": envelope.provider_envelope_id,
        "template": envelope.template_key,
        "template_version": envelope.template_version,
        "delivery_failed": envelope.delivery_failed,
        "document_url": envelope.document_url,
        "correlation_id": record.correlation_id,
        "lead_id": lead.id or envelope.lead_id,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "owner": lead.owner,
        **envelope.milestones,
        **first_touch_fields(first),
    }
    for kind, status in lead.consent.items():
        fields[f"consent_{kind}"] = status
    if lead.marketing_flag is not None:
        fields["marketing_allowed"] = text(lead.marketing_flag)
    if record.test:
        fields["test"] = "true"
    return {key: value for key, value in fields.items() if value is not None}


def first_touch_fields(first: FirstTouch) -> dict[str, str | None]:
    """The ``first_touch_*`` fields of a lead's first touch (None where it has no value)."""
    fields: dict[str, str | None] = {FIRST_TOUCH_PREFIX + name: None for name in UTM_FIELDS}
    fields.update({FIRST_TOUCH_PREFIX + name: value for name, value in first.utm.items()})
    fields[FIRST_TOUCH_PREFIX + "referrer"] = first.referrer
    fields[FIRST_TOUCH_PREFIX + "landing_page"] = first.landing_page
    fields[FIRST_TOUCH_PREFIX + "at"] = first.occurred_at
    for click_id, value in first.click_ids.items():
        fields[FIRST_TOUCH_PREFIX + click_id] = value
    return fields


def map_fields(
    fields: Mapping[str, str], defaults: Mapping[str, str], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Rename canonical fields to vendor properties. Unmapped fields are dropped; a field
    mapped to "" is switched off."""
    mapping = {**defaults, **overrides}
    return {mapping[name]: value for name, value in fields.items() if mapping.get(name)}


def is_blank(value: Any) -> bool:
    """Whether a vendor field holds nothing (absent, null or empty): first touch may fill it."""
    return value is None or value == ""


def is_first_touch(canonical_name: str) -> bool:
    return canonical_name.startswith(FIRST_TOUCH_PREFIX)


def map_split(
    fields: Mapping[str, str], defaults: Mapping[str, str], overrides: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``map_fields`` in two parts: the plain fields, and the first-touch fields a destination
    writes only where it holds no value yet."""
    plain = {k: v for k, v in fields.items() if not is_first_touch(k)}
    first = {k: v for k, v in fields.items() if is_first_touch(k)}
    return map_fields(plain, defaults, overrides), map_fields(first, defaults, overrides)
