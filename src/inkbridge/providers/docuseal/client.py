"""The outbound half of DocuSeal: create submissions from templates, return a submitter's
embedded signing form and read a submission back for reconciliation.

Where inkbridge's ids go: each submitter's ``external_id`` is inkbridge's envelope id and its
``metadata`` carries every ``spec.metadata`` pair; DocuSeal echoes both in ``form.*`` webhooks
and lists submitters by ``external_id``, which makes creation idempotent: an earlier attempt's
submission is found and returned instead of creating a second one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, PermanentError, RetryableError
from inkbridge.providers._common import (
    META_ENVELOPE,
    ReportEvents,
    inkbridge_metadata,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import CreatedEnvelope, EnvelopeSpec, SigningRequest
from inkbridge.vendor_http.credentials import CredentialCheck
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.endpoint import VendorEndpoint

PROVIDER = "docuseal"
DEFAULT_BASE_URL = "https://api.docuseal.com"

# Submitter timestamp -> normalized type, for each submitter in GET /submissions/{id}.
SUBMITTER_TIMES: tuple[tuple[str, EventType], ...] = (
    ("opened_at", EventType.DOCUMENT_VIEWED),
    ("completed_at", EventType.RECIPIENT_SIGNED),
    ("declined_at", EventType.DOCUMENT_DECLINED),
)


class DocuSealClient:
    """``ProviderClient`` for DocuSeal (cloud or self-hosted; ``base_url`` is the API root).

    ``roles`` names each signer's template role by position; without it DocuSeal assigns the
    template's roles in order. ``send_emails=False`` creates the submission without emails, for
    embedded signing.
    """

    provider = PROVIDER
    min_poll_interval_seconds = 0.0  # DocuSeal sets no polling rule

    def __init__(
        self,
        base_url: str,
        api_token: str,
        client: httpx.AsyncClient,
        *,
        roles: Sequence[str] = (),
        send_emails: bool = False,
    ) -> None:
        self._base = base_url.rstrip("/")
        # DocuSeal's errors are {"error": "<message>"}; only short ones are kept, as codes.
        self._api = VendorEndpoint(
            client, PROVIDER, self._base, {"X-Auth-Token": api_token}, code_keys=("error",)
        )
        self._client = client
        self._roles = tuple(roles)
        self._send_emails = send_emails

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"DocuSealClient(base_url={self._base!r})"

    async def check_credentials(self) -> CredentialCheck:
        """One template at most (``inkbridge doctor``): DocuSeal's API has no user read, and
        any valid token may list its templates."""
        return await self._api.check_get("/templates", {"limit": "1"})

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        earlier = await self._call("GET", "/submitters", params={"external_id": spec.envelope_id})
        found = [s for s in _object(earlier).get("data") or [] if isinstance(s, dict)]
        if found:
            return self._created(found[0])
        metadata = {**spec.metadata, META_ENVELOPE: spec.envelope_id}
        submitters: list[dict[str, Any]] = []
        for index, signer in enumerate(spec.signers):
            submitter: dict[str, Any] = {
                "email": signer.email,
                "name": signer.name,
                "external_id": spec.envelope_id,
                "metadata": metadata,
            }
            if spec.merge_fields:
                # Values for fields of another role are ignored by DocuSeal.
                submitter["values"] = dict(spec.merge_fields)
            if index < len(self._roles):
                submitter["role"] = self._roles[index]
            submitters.append(submitter)
        template = spec.template_id
        body = {
            "template_id": int(template) if template.isdigit() else template,
            "send_email": self._send_emails,
            "submitters": submitters,
        }
        answer = await self._call("POST", "/submissions", body)
        if not isinstance(answer, list) or not answer or not isinstance(answer[0], dict):
            raise PermanentError("docuseal answered without submitters")
        return self._created(answer[0])

    def _created(self, submitter: dict[str, Any]) -> CreatedEnvelope:
        submission_id = text_or_none(submitter.get("submission_id"))
        if submission_id is None:
            raise PermanentError("docuseal answered without a submission_id")
        return CreatedEnvelope(provider_envelope_id=submission_id, status="pending")

    async def signing_url(self, request: SigningRequest) -> str:
        # The redirect after signing (completed_redirect_url) is fixed when the submission is
        # created; return_url is not used per link.
        submission = _object(
            await self._call("GET", f"/submissions/{request.provider_envelope_id}")
        )
        for submitter in submission.get("submitters") or []:
            if str(submitter.get("email", "")).lower() == request.signer.email.lower():
                submitter_id = text_or_none(submitter.get("id"))
                if submitter_id is None:
                    break
                # Only the submitter resource is documented to carry embed_src.
                found = _object(await self._call("GET", f"/submitters/{submitter_id}"))
                url = text_or_none(found.get("embed_src"))
                if url:
                    return url
        raise PermanentError("docuseal has no submitter with that email on the submission")

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        """The submission as events, oldest first: created, each submitter's view, signature
        or decline, and the submission's end (completed, expired or archived)."""
        submission = _object(await self._call("GET", f"/submissions/{provider_envelope_id}"))
        submitters = [s for s in submission.get("submitters") or [] if isinstance(s, dict)]
        metadata: dict[str, str] = {}
        for submitter in submitters:
            metadata.update(inkbridge_metadata(submitter.get("metadata") or {}))
            external = text_or_none(submitter.get("external_id"))
            if external:
                metadata.setdefault(META_ENVELOPE, external)

        event = ReportEvents(PROVIDER, provider_envelope_id, metadata)

        events = [event(EventType.DOCUMENT_SENT, _time(submission.get("created_at")), "created")]
        for submitter in submitters:
            for field, kind in SUBMITTER_TIMES:
                if submitter.get(field):
                    events.append(event(kind, _time(submitter[field]), field, submitter))
        status = str(submission.get("status", ""))
        if status == "completed" and submission.get("completed_at"):
            when = _time(submission["completed_at"])
            events.append(event(EventType.DOCUMENT_COMPLETED, when, status))
        elif status == "expired":
            when = _time(submission.get("expire_at") or submission.get("updated_at"))
            events.append(event(EventType.DOCUMENT_EXPIRED, when, status))
        if submission.get("archived_at") and status not in {"completed", "declined", "expired"}:
            when = _time(submission["archived_at"])
            events.append(event(EventType.DOCUMENT_VOIDED, when, "archived"))
        events.sort(key=lambda e: e.occurred_at)
        return events

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """The submission's documents merged into one PDF: ``/submissions/{id}/documents``
        (``merge=true``) answers file URLs, which are followed. They are signed storage
        links, so the API token is not sent there; their storage may redirect."""
        answer = _object(
            await self._call(
                "GET", f"/submissions/{provider_envelope_id}/documents", params={"merge": "true"}
            )
        )
        documents = [d for d in answer.get("documents") or [] if isinstance(d, dict)]
        url = text_or_none(documents[0].get("url")) if documents else None
        if url is None or urlsplit(url).scheme not in {"http", "https"}:
            raise PermanentError("docuseal answered without a document URL")
        async for chunk in stream_pdf(self._client, PROVIDER, url, follow_redirects=True):
            yield chunk

    async def _call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        response = await self._api.request(method, path, json=body, params=params)
        try:
            return response.json()
        except ValueError:
            raise RetryableError("docuseal answered with invalid JSON") from None


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PermanentError("docuseal answered with a non-object body")
    return data


def _time(value: Any) -> datetime:
    try:
        return parse_time(value, "time")
    except MalformedPayload as exc:
        raise PermanentError("docuseal answered with an unreadable time") from exc
