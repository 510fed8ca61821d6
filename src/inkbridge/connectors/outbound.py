"""The typed, read-only view of one outbox change that connectors read by attribute.

The outbox stores a change's payload as JSON (its format is described in ``kinds``, and the
outbound webhook sends it as is); ``OutboundRecord.from_payload`` reads that JSON once, at the
connector boundary (``Change.record``), so no connector walks nested mappings or guards against a
missing or mistyped key itself. Text values keep the form connectors write: ``None`` for a
missing or empty value, ``"true"``/``"false"`` for booleans, ``str()`` of anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inkbridge.domain.attribution import UTM_FIELDS


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one: stored or vendor JSON may lack it."""
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str | None:
    """A value as connectors write it (see the module docstring)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _texts(raw: Any) -> dict[str, str]:
    return {str(key): t for key, value in as_mapping(raw).items() if (t := text(value)) is not None}


@dataclass(frozen=True)
class FirstTouch:
    """Where a lead first came from; written only where the destination has no value yet."""

    utm: Mapping[str, str] = field(default_factory=dict)
    referrer: str | None = None
    landing_page: str | None = None
    occurred_at: str | None = None
    click_ids: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> FirstTouch:
        first = as_mapping(raw)
        utm = {name: t for name in UTM_FIELDS if (t := text(first.get(name))) is not None}
        return cls(
            utm=utm,
            referrer=text(first.get("referrer")),
            landing_page=text(first.get("landing_page")),
            occurred_at=text(first.get("occurred_at")),
            click_ids=_texts(first.get("click_ids")),
        )


@dataclass(frozen=True)
class Lead:
    """The lead a change is about, with its consent per kind (granted | denied | withdrawn)."""

    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    owner: str | None = None
    first_touch: FirstTouch = field(default_factory=FirstTouch)
    consent: Mapping[str, str] = field(default_factory=dict)
    # The lead's own marketing flag, None when the payload carries none.
    marketing_flag: bool | None = None

    @classmethod
    def from_json(cls, raw: Any) -> Lead:
        lead = as_mapping(raw)
        flag = bool(lead["marketing_allowed"]) if "marketing_allowed" in lead else None
        return cls(
            id=text(lead.get("id")),
            email=text(lead.get("email")),
            first_name=text(lead.get("first_name")),
            last_name=text(lead.get("last_name")),
            company=text(lead.get("company")),
            owner=text(lead.get("owner")),
            first_touch=FirstTouch.from_json(lead.get("first_touch")),
            consent=_texts(lead.get("consent")),
            marketing_flag=flag,
        )

    @property
    def marketing_allowed(self) -> bool:
        """Whether the lead may receive marketing: its flag, else its marketing_email consent."""
        if self.marketing_flag is not None:
            return self.marketing_flag
        return self.consent.get("marketing_email") == "granted"


@dataclass(frozen=True)
class Envelope:
    """The envelope a change is about, as of the change; ``milestones`` maps name -> time."""

    id: str | None = None
    state: str | None = None
    provider: str | None = None
    provider_envelope_id: str | None = None
    template_key: str | None = None
    template_version: str | None = None
    milestones: Mapping[str, str] = field(default_factory=dict)
    delivery_failed: str | None = None
    lead_id: str | None = None
    document_url: str | None = None

    @classmethod
    def from_json(cls, raw: Any) -> Envelope:
        envelope = as_mapping(raw)
        return cls(
            id=text(envelope.get("id")),
            state=text(envelope.get("state")),
            provider=text(envelope.get("provider")),
            provider_envelope_id=text(envelope.get("provider_envelope_id")),
            template_key=text(envelope.get("template_key")),
            template_version=text(envelope.get("template_version")),
            milestones=_texts(envelope.get("milestones")),
            delivery_failed=text(envelope.get("delivery_failed")),
            lead_id=text(envelope.get("lead_id")),
            document_url=text(envelope.get("document_url")),
        )


@dataclass(frozen=True)
class Task:
    """A ``crm.task``: ``key`` is inkbridge's id of the task (empty when the payload has none)."""

    key: str = ""
    subject: str = ""
    body: str = ""
    owner: str = ""
    due_at: str = ""

    @classmethod
    def from_json(cls, raw: Any) -> Task:
        task = as_mapping(raw)
        values = {name: text(task.get(name)) or "" for name in cls.__dataclass_fields__}
        return cls(**values)


@dataclass(frozen=True)
class OutboundRecord:
    """One change's payload, typed. ``lead`` is None when the change names no lead."""

    correlation_id: str | None = None
    envelope: Envelope = field(default_factory=Envelope)
    lead: Lead | None = None
    # The domain event behind the change: its kind, fact key and when it happened.
    event_kind: str | None = None
    occurred_at: str | None = None
    journey: str = ""
    task: Task = field(default_factory=Task)
    # The change is about a go-live test lead (the payload's ``"test": true``).
    test: bool = False

    @classmethod
    def from_payload(cls, payload: Any) -> OutboundRecord:
        body = as_mapping(payload)
        event = as_mapping(body.get("event"))
        lead = body.get("lead")
        return cls(
            correlation_id=text(body.get("correlation_id")),
            envelope=Envelope.from_json(body.get("envelope")),
            lead=Lead.from_json(lead) if lead else None,
            event_kind=text(event.get("kind")),
            occurred_at=text(event.get("occurred_at")),
            journey=text(as_mapping(body.get("journey")).get("name")) or "",
            task=Task.from_json(body.get("task")),
            test=body.get("test") is True,
        )

    @property
    def lead_or_empty(self) -> Lead:
        return self.lead or Lead()

    @property
    def marketing_allowed(self) -> bool:
        return self.lead is not None and self.lead.marketing_allowed
