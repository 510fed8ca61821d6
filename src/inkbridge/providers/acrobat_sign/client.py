"""The outbound half of Adobe Acrobat Sign (REST v6): create agreements from library documents,
fetch e-sign URLs and read an agreement's status and audit events back for reconciliation.

Auth is OAuth with a long-lived refresh token: access tokens (an hour) are cached until shortly
before they expire, and a 401 triggers exactly one refresh and one replay of the call.

Where inkbridge's ids go: Acrobat has one free slot, ``externalId.id``, which carries inkbridge's
envelope id (the inbound adapter reads it back). The remaining ``spec.metadata`` pairs (lead,
correlation and attribution ids) are written as JSON into the API user's private agreement note
(``PUT /agreements/{id}/me/note``), which signers never see.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, PermanentError, RetryableError
from inkbridge.providers._common import META_ENVELOPE, ReportEvents, parse_time, text_or_none
from inkbridge.providers.base import CreatedEnvelope, EnvelopeSpec, SigningRequest
from inkbridge.vendor_http.auth import RefreshTokenAuth
from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.responses import body_error_code, json_object, raise_for_status, send

PROVIDER = "acrobat_sign"
API = "/api/rest/v6"
BASE_URIS = API + "/baseUris"
# Refresh this long before the token's stated expiry, so a call never starts with a dying token.
REFRESH_MARGIN_SECONDS = 120.0
# Right after creation Acrobat is still processing documents; signingUrls says so with this code.
NOT_READY_CODES = frozenset({"AGREEMENT_NOT_EXPOSED", "ESIGN_URL_NOT_READY"})

# Audit event type -> normalized type (GET /agreements/{id}/events).
AUDIT_EVENTS: dict[str, EventType] = {
    "ACTION_REQUESTED": EventType.DOCUMENT_SENT,
    "EMAIL_VIEWED": EventType.DOCUMENT_VIEWED,
    "ESIGNED": EventType.RECIPIENT_SIGNED,
    "DIGSIGNED": EventType.RECIPIENT_SIGNED,
    "ACTION_COMPLETED": EventType.RECIPIENT_SIGNED,
    "REJECTED": EventType.DOCUMENT_DECLINED,
    "RECALLED": EventType.DOCUMENT_VOIDED,
    "EXPIRED": EventType.DOCUMENT_EXPIRED,
    "EXPIRED_AUTOMATICALLY": EventType.DOCUMENT_EXPIRED,
    "EMAIL_BOUNCED": EventType.DOCUMENT_DELIVERY_FAILED,
}
TERMINAL_TYPES = frozenset(
    {EventType.DOCUMENT_DECLINED, EventType.DOCUMENT_VOIDED, EventType.DOCUMENT_EXPIRED}
)


class AcrobatSignClient:
    """``ProviderClient`` for Acrobat Sign; ``base_url`` is the account's API access point."""

    provider = PROVIDER
    # Acrobat asks integrations not to poll an agreement more than about once a minute.
    min_poll_interval_seconds = 60.0

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client = client
        self._clock = clock or (lambda: datetime.now(UTC))
        self.auth: RefreshTokenAuth[str] = RefreshTokenAuth(
            token_url=f"{self._base}/oauth/v2/refresh",
            client=client,
            label=PROVIDER,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            timeout=None,
            clock=lambda: self._clock().timestamp(),
            margin=REFRESH_MARGIN_SECONDS,
        )

    def __repr__(self) -> str:  # the secrets stay out of logs and tracebacks
        return f"AcrobatSignClient(base_url={self._base!r})"

    async def check_credentials(self) -> CredentialCheck:
        """The account's access points (``inkbridge doctor``), after the refresh-token grant:
        Acrobat Sign answers ``baseUris`` to a token of any scope."""
        return await authenticated_get(
            self._client, PROVIDER, self._base + BASE_URIS, auth=self.auth
        )

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        if not spec.signers:
            raise PermanentError("acrobat_sign needs at least one signer")
        body: dict[str, Any] = {
            "fileInfos": [{"libraryDocumentId": spec.template_id}],
            "name": spec.title,
            "participantSetsInfo": [
                {
                    "memberInfos": [{"email": s.email, "name": s.name}],
                    "order": i + 1,
                    "role": "SIGNER",
                }
                for i, s in enumerate(spec.signers)
            ],
            "signatureType": "ESIGN",
            "state": "IN_PROCESS",
            "externalId": {"id": spec.envelope_id},
        }
        if spec.merge_fields:
            body["mergeFieldInfo"] = [
                {"fieldName": k, "defaultValue": v} for k, v in spec.merge_fields.items()
            ]
        data = await self._call("POST", f"{API}/agreements", body)
        agreement_id = text_or_none(data.get("id"))
        if agreement_id is None:
            raise PermanentError("acrobat_sign answered without an agreement id")
        await self._write_note(agreement_id, spec)
        return CreatedEnvelope(provider_envelope_id=agreement_id, status="OUT_FOR_SIGNATURE")

    async def _write_note(self, agreement_id: str, spec: EnvelopeSpec) -> None:
        """The remaining ids, best effort: the agreement exists and already carries the envelope
        id in ``externalId``, so a failed note must not make the caller create it again."""
        note = {META_ENVELOPE: spec.envelope_id, **spec.metadata}
        with contextlib.suppress(RetryableError, PermanentError):
            await self._call(
                "PUT",
                f"{API}/agreements/{agreement_id}/me/note",
                {"value": json.dumps(note, sort_keys=True)},
            )

    async def signing_url(self, request: SigningRequest) -> str:
        # Acrobat fixes the post-sign redirect at creation (postSignOption); return_url is unused.
        data = await self._call(
            "GET", f"{API}/agreements/{request.provider_envelope_id}/signingUrls"
        )
        for url_set in data.get("signingUrlSetInfos") or []:
            for entry in (url_set or {}).get("signingUrls") or []:
                email = str(entry.get("email", ""))
                url = text_or_none(entry.get("esignUrl"))
                if url and email.lower() == request.signer.email.lower():
                    return url
        raise PermanentError("acrobat_sign has no signing URL for that signer now")

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        """The agreement's audit events as normalized events, oldest first, plus completion.

        v6 reports both a rejection and a recall as CANCELLED; the audit events tell them
        apart. A SIGNED agreement has no "completed" audit event, so completion is dated by
        the last signature.
        """
        agreement = await self._call("GET", f"{API}/agreements/{provider_envelope_id}")
        audit = await self._call("GET", f"{API}/agreements/{provider_envelope_id}/events")
        external = text_or_none((agreement.get("externalId") or {}).get("id"))
        metadata = {META_ENVELOPE: external} if external else {}

        event = ReportEvents(
            PROVIDER, provider_envelope_id, metadata, "participantId", "participantEmail"
        )

        events: list[NormalizedEvent] = []
        for item in audit.get("events") or []:
            kind = AUDIT_EVENTS.get(str(item.get("type")))
            if kind is not None:
                when = _time(item.get("date"), "events[].date")
                events.append(event(kind, when, str(item["type"]), item))
        events.sort(key=lambda e: e.occurred_at)
        status = str(agreement.get("status", ""))
        if status == "SIGNED":
            signed = [e for e in events if e.type is EventType.RECIPIENT_SIGNED]
            when = signed[-1].occurred_at if signed else self._clock()
            events.append(event(EventType.DOCUMENT_COMPLETED, when, status))
        elif status in {"CANCELLED", "EXPIRED"} and not any(
            e.type in TERMINAL_TYPES for e in events
        ):
            kind = EventType.DOCUMENT_EXPIRED if status == "EXPIRED" else EventType.DOCUMENT_VOIDED
            when = events[-1].occurred_at if events else self._clock()
            events.append(event(kind, when, status))
        return events

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """The agreement's documents as one PDF (``combinedDocument``)."""
        async for chunk in stream_pdf(
            self._client,
            PROVIDER,
            f"{self._base}{API}/agreements/{provider_envelope_id}/combinedDocument",
            auth=self.auth,
            code_keys=("code", "error"),
            retryable_codes=NOT_READY_CODES,
        ):
            yield chunk

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        # ``self.auth`` refreshes once after a 401 and replays once; a second 401 is final.
        response = await send(
            self._client, PROVIDER, method, self._base + path, json=body, auth=self.auth
        )
        # REST errors say {"code"}, the OAuth endpoint {"error"}.
        code = body_error_code(response, "code", "error")
        raise_for_status(PROVIDER, response, code, retryable_codes=NOT_READY_CODES)
        return json_object(PROVIDER, response) if response.content else {}


def _time(value: Any, field: str) -> datetime:
    try:
        return parse_time(value, field)
    except MalformedPayload as exc:
        raise PermanentError(f"{PROVIDER} answered with an unreadable {field}") from exc
