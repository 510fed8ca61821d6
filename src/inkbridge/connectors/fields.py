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
  consent_<kind> (granted | denied | withdrawn), marketing_allowed (true | false).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inkbridge.domain.attribution import UTM_FIELDS

FIRST_TOUCH_PREFIX = "first_touch_"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    """The flat, vendor-neutral view of one change's payload (missing values left out)."""
    envelope = _mapping(payload.get("envelope"))
    lead = _mapping(payload.get("lead"))
    first = _mapping(lead.get("first_touch"))
    fields: dict[str, str | None] = {
        "envelope_id": _text(envelope.get("id")),
        "envelope_status": _text(envelope.get("state")),
        "provider": _text(envelope.get("provider")),
        "provider_envelope_id": _text(envelope.get("provider_envelope_id")),
        "template": _text(envelope.get("template_key")),
        "template_version": _text(envelope.get("template_version")),
        "delivery_failed": _text(envelope.get("delivery_failed")),
        "document_url": _text(envelope.get("document_url")),
        "correlation_id": _text(payload.get("correlation_id")),
        "lead_id": _text(lead.get("id") or envelope.get("lead_id")),
        "email": _text(lead.get("email")),
        "first_name": _text(lead.get("first_name")),
        "last_name": _text(lead.get("last_name")),
        "company": _text(lead.get("company")),
        "owner": _text(lead.get("owner")),
    }
    for milestone, at in _mapping(envelope.get("milestones")).items():
        fields[milestone] = _text(at)
    for name in UTM_FIELDS:
        fields[FIRST_TOUCH_PREFIX + name] = _text(first.get(name))
    fields[FIRST_TOUCH_PREFIX + "referrer"] = _text(first.get("referrer"))
    fields[FIRST_TOUCH_PREFIX + "landing_page"] = _text(first.get("landing_page"))
    fields[FIRST_TOUCH_PREFIX + "at"] = _text(first.get("occurred_at"))
    for click_id, value in _mapping(first.get("click_ids")).items():
        fields[FIRST_TOUCH_PREFIX + str(click_id)] = _text(value)
    consent = _mapping(lead.get("consent"))
    for kind, status in consent.items():
        fields[f"consent_{kind}"] = _text(status)
    if "marketing_allowed" in lead:
        fields["marketing_allowed"] = _text(bool(lead.get("marketing_allowed")))
    return {key: value for key, value in fields.items() if value is not None}


def map_fields(
    fields: Mapping[str, str], defaults: Mapping[str, str], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Rename canonical fields to vendor properties. Unmapped fields are dropped; a field
    mapped to "" is switched off."""
    mapping = {**defaults, **overrides}
    return {mapping[name]: value for name, value in fields.items() if mapping.get(name)}


def is_first_touch(canonical_name: str) -> bool:
    return canonical_name.startswith(FIRST_TOUCH_PREFIX)
