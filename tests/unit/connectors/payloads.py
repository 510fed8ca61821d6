"""Outbox changes as the delivery engine hands them to CRM connectors, shaped as
``inkbridge.connectors.kinds`` describes: a lead with its frozen first touch and consent, an
envelope with its milestones, the event that caused the change, a task or a journey. Also the
transports the connector tests use to lose requests and answers."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.connectors import kinds
from inkbridge.connectors.base import Change, Connector

MILESTONES_BY_STATE = {
    "sent": {"sent_at": "2024-05-01T09:00:00+00:00"},
    "viewed": {
        "sent_at": "2024-05-01T09:00:00+00:00",
        "first_viewed_at": "2024-05-01T09:20:00+00:00",
    },
    "completed": {
        "sent_at": "2024-05-01T09:00:00+00:00",
        "first_viewed_at": "2024-05-01T09:20:00+00:00",
        "first_signed_at": "2024-05-01T10:00:00+00:00",
        "completed_at": "2024-05-01T10:00:00+00:00",
    },
    "declined": {
        "sent_at": "2024-05-01T09:00:00+00:00",
        "declined_at": "2024-05-01T11:00:00+00:00",
    },
}


def first_touch(utm_source: str = "newsletter", **overrides: Any) -> dict[str, Any]:
    touch: dict[str, Any] = {
        "utm_source": utm_source,
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_term": None,
        "utm_content": "hero",
        "click_ids": {"gclid": "g-123"},
        "referrer": "https://news.example.test/",
        "landing_page": "https://inkbridge.example.test/nda",
        "occurred_at": "2024-04-30T08:00:00+00:00",
    }
    touch.update(overrides)
    return touch


def lead(
    lead_id: str = "lead_1",
    email: str | None = "ada@example.test",
    *,
    owner: str | None = "owner-7",
    touch: dict[str, Any] | None = None,
    consent: dict[str, str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": lead_id,
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines Ltd",
        "owner": owner,
        "first_touch": first_touch() if touch is None else touch,
        "consent": consent or {"contract_execution": "granted"},
        "marketing_allowed": (consent or {}).get("marketing_email") == "granted",
    }
    body.update(overrides)
    return body


def envelope(
    envelope_id: str = "env_1", state: str = "completed", lead_id: str | None = "lead_1"
) -> dict[str, Any]:
    return {
        "id": envelope_id,
        "state": state,
        "provider": "docusign",
        "provider_envelope_id": f"ds-{envelope_id}",
        "template_key": "nda",
        "template_version": 2,
        "milestones": dict(MILESTONES_BY_STATE.get(state, {})),
        "delivery_failed": False,
        "lead_id": lead_id,
        "document_url": f"https://inkbridge.example.test/envelopes/{envelope_id}/document",
    }


def _event(kind: str, fact_key: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "fact_key": fact_key, "occurred_at": "2024-05-01T10:00:00+00:00", **data}


def _change(
    outbox_id: int,
    kind: str,
    record_key: str,
    fact_key: str,
    payload: dict[str, Any],
    uncertain: bool,
) -> Change:
    payload.setdefault("correlation_id", "cor_1")
    return Change(
        outbox_id=outbox_id,
        record_key=record_key,
        kind=kind,
        idempotency_key=fact_key,
        payload=payload,
        correlation_id=payload["correlation_id"],
        fact_keys=(fact_key,),
        uncertain=uncertain,
    )


def envelope_change(
    outbox_id: int,
    state: str = "completed",
    *,
    envelope_id: str = "env_1",
    person: dict[str, Any] | None = None,
    uncertain: bool = False,
) -> Change:
    person = lead() if person is None else person
    fact = f"envelope:{envelope_id}:state:{state}"
    payload = {
        "event": _event("envelope.state_changed", fact, to=state),
        "envelope": envelope(envelope_id, state, person.get("id") if person else None),
        "lead": person or None,
    }
    return _change(
        outbox_id, kinds.ENVELOPE_STATE, f"envelope:{envelope_id}", fact, payload, uncertain
    )


def lead_change(outbox_id: int, person: dict[str, Any] | None = None) -> Change:
    person = lead() if person is None else person
    fact = f"lead:{person['id']}:updated:{outbox_id}"
    payload = {"event": _event("lead.updated", fact), "lead": person}
    return _change(outbox_id, kinds.LEAD_UPDATED, f"lead:{person['id']}", fact, payload, False)


def consent_change(
    outbox_id: int, consent: dict[str, str], person: dict[str, Any] | None = None
) -> Change:
    person = lead(consent=consent) if person is None else {**person, "consent": consent}
    fact = f"lead:{person['id']}:consent:{outbox_id}"
    payload = {"event": _event("contact.consent", fact), "lead": person}
    return _change(outbox_id, kinds.CONTACT_CONSENT, f"lead:{person['id']}", fact, payload, False)


def journey_change(
    outbox_id: int, name: str = "onboarding", person: dict[str, Any] | None = None
) -> Change:
    person = lead(consent={"marketing_email": "granted"}) if person is None else person
    fact = f"lead:{person['id']}:journey:{name}"
    payload = {
        "event": _event("journey.enter", fact),
        "lead": person,
        "journey": {"name": name, "rule": "envelope_completed"},
    }
    return _change(outbox_id, kinds.JOURNEY_ENTER, f"lead:{person['id']}", fact, payload, False)


def suppress_change(outbox_id: int, person: dict[str, Any] | None = None) -> Change:
    person = lead() if person is None else person
    fact = f"lead:{person['id']}:suppress"
    payload = {"event": _event("marketing.suppress", fact, reason="deal_won"), "lead": person}
    return _change(
        outbox_id, kinds.MARKETING_SUPPRESS, f"lead:{person['id']}", fact, payload, False
    )


def task_change(
    outbox_id: int,
    key: str = "task_1",
    *,
    person: dict[str, Any] | None = None,
    owner: str = "owner-7",
    uncertain: bool = False,
) -> Change:
    person = lead() if person is None else person
    fact = f"task:{key}"
    payload = {
        "event": _event("crm.task", fact),
        "lead": person,
        "task": {
            "key": key,
            "subject": "Call Ada: NDA signed",
            "body": "The NDA was completed; follow up on the MSA.",
            "owner": owner,
            "due_at": "2024-05-02T09:00:00+00:00",
        },
    }
    return _change(outbox_id, kinds.CRM_TASK, f"task:{key}", fact, payload, uncertain)


# -- transports that fail the way networks do ------------------------------------------------


class TimeoutOn(httpx.AsyncBaseTransport):
    """Passes requests to the app, except that those whose path contains ``marker`` time out
    before reaching it."""

    def __init__(self, app: Any, marker: str) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._marker = marker

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._marker in request.url.path:
            raise httpx.ReadTimeout("timed out", request=request)
        return await self._inner.handle_async_request(request)


class AnswerLostOn(httpx.AsyncBaseTransport):
    """Passes every request to the app, but the answer to the first one whose path contains
    ``marker`` never comes back: the write landed and the client saw a timeout."""

    def __init__(self, app: Any, marker: str) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._marker = marker
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if self._marker in request.url.path and not self.lost:
            self.lost += 1
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


async def apply_sent_then_completed(connector: Connector) -> None:
    """One envelope's lifecycle delivered as two batches (outbox 1 sent, outbox 2 completed),
    each change written."""
    sent = await connector.apply([envelope_change(1, "sent")])
    done = await connector.apply([envelope_change(2, "completed")])
    assert [r.ok for r in [*sent.results, *done.results]] == [True, True]
