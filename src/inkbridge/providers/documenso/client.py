"""The outbound half of Documenso (API v2): create a document from a template envelope and
distribute it in one call, build signing links from recipient tokens and read an envelope back
for reconciliation.

Where inkbridge's ids go: Documenso's only free slot is the envelope's ``externalId``, which
carries inkbridge's envelope id (echoed in every webhook). Documenso has no other metadata
field, so the lead, correlation and attribution ids stay with inkbridge, found through the
envelope id.

Template recipients: ``POST /envelope/use`` fills the template's recipient slots by their
numeric ids, so the client reads the template first and gives the slots to the signers in the
template's signing order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, PermanentError
from inkbridge.providers._common import META_ENVELOPE, ReportEvents, parse_time, text_or_none
from inkbridge.providers.base import CreatedEnvelope, EnvelopeSpec, SigningRequest
from inkbridge.vendor_http.credentials import CredentialCheck
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.endpoint import VendorEndpoint

PROVIDER = "documenso"
DEFAULT_BASE_URL = "https://app.documenso.com"


class DocumensoClient:
    """``ProviderClient`` for Documenso; ``base_url`` is the app's origin (the API is under
    ``/api/v2``, signing pages under ``/sign``). ``send_emails=False`` distributes without
    Documenso's emails (distribution method NONE), for embedded signing."""

    provider = PROVIDER
    min_poll_interval_seconds = 0.0  # Documenso sets no polling rule

    def __init__(
        self,
        base_url: str,
        api_token: str,
        client: httpx.AsyncClient,
        *,
        send_emails: bool = False,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_token = api_token
        self._api = VendorEndpoint(
            client, PROVIDER, f"{self._base}/api/v2", {"Authorization": api_token}, ("code",)
        )
        self._client = client
        self._send_emails = send_emails

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"DocumensoClient(base_url={self._base!r})"

    async def check_credentials(self) -> CredentialCheck:
        """One envelope of the token's team at most (``inkbridge doctor``): Documenso has no
        account or user read in its API, and this is its cheapest authenticated one."""
        return await self._api.check_get("/envelope", {"perPage": "1"})

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        template = await self._call("GET", f"/envelope/{spec.template_id}")
        slots = sorted(
            (r for r in template.get("recipients") or [] if isinstance(r, dict)),
            key=lambda r: (r.get("signingOrder") or 0, r.get("id") or 0),
        )
        if len(slots) < len(spec.signers):
            raise PermanentError("documenso template has fewer recipients than signers")
        payload = {
            "envelopeId": spec.template_id,
            "externalId": spec.envelope_id,
            "recipients": [
                {"id": slot.get("id"), "email": signer.email, "name": signer.name}
                for slot, signer in zip(slots, spec.signers, strict=False)
            ],
            # Created and sent in one call: a separate distribute step could fail after the
            # document exists, and a retry would then create a second one.
            "distributeDocument": True,
            "override": {
                "title": spec.title,
                "distributionMethod": "EMAIL" if self._send_emails else "NONE",
            },
        }
        # Documenso reads this endpoint's JSON from the multipart field "payload".
        data = await self._call(
            "POST", "/envelope/use", files={"payload": (None, json.dumps(payload))}
        )
        envelope_id = text_or_none(data.get("id"))
        if envelope_id is None:
            raise PermanentError("documenso answered without an envelope id")
        return CreatedEnvelope(provider_envelope_id=envelope_id, status="PENDING")

    async def signing_url(self, request: SigningRequest) -> str:
        # The redirect after signing is the envelope's documentMeta.redirectUrl, set in the
        # template; a per-link return URL does not exist.
        envelope = await self._call("GET", f"/envelope/{request.provider_envelope_id}")
        for recipient in envelope.get("recipients") or []:
            if str(recipient.get("email", "")).lower() == request.signer.email.lower():
                token = text_or_none(recipient.get("token"))
                if token:
                    return f"{self._base}/sign/{token}"
        raise PermanentError("documenso has no recipient with that email on the envelope")

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        """What the envelope shows, as events oldest first: sent, each signature (and each
        rejection or expiry) with its recipient, and the document's end state.

        Documenso keeps no time of a recipient opening the document, so views are not listed.
        """
        envelope = await self._call("GET", f"/envelope/{provider_envelope_id}")
        external = text_or_none(envelope.get("externalId"))
        metadata = {META_ENVELOPE: external} if external else {}
        status = str(envelope.get("status", ""))
        updated = _time(envelope.get("updatedAt"), "updatedAt")

        event = ReportEvents(PROVIDER, provider_envelope_id, metadata)

        if status == "DRAFT":
            return []
        events = [
            event(EventType.DOCUMENT_SENT, _time(envelope.get("createdAt"), "createdAt"), status)
        ]
        now = datetime.now(UTC)
        for recipient in envelope.get("recipients") or []:
            signing = recipient.get("signingStatus")
            if signing == "SIGNED" and recipient.get("signedAt"):
                when = _time(recipient["signedAt"], "signedAt")
                events.append(event(EventType.RECIPIENT_SIGNED, when, "SIGNED", recipient))
            elif signing == "REJECTED":
                events.append(event(EventType.DOCUMENT_DECLINED, updated, "REJECTED", recipient))
            elif status == "PENDING" and recipient.get("expiresAt"):
                when = _time(recipient["expiresAt"], "expiresAt")
                if when <= now:
                    events.append(event(EventType.DOCUMENT_EXPIRED, when, "EXPIRED", recipient))
        ended = envelope.get("completedAt")
        if status == "COMPLETED":
            events.append(event(EventType.DOCUMENT_COMPLETED, _time(ended, "completedAt"), status))
        elif status == "CANCELLED":
            when = _time(ended, "completedAt") if ended else updated
            events.append(event(EventType.DOCUMENT_VOIDED, when, status))
        elif status == "REJECTED" and not any(
            e.type is EventType.DOCUMENT_DECLINED for e in events
        ):
            events.append(event(EventType.DOCUMENT_DECLINED, updated, status))
        events.sort(key=lambda e: e.occurred_at)
        return events

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """The signed version of the envelope's first document. Documenso (v2) keeps each
        document of an envelope as an item with its own download; inkbridge's templates carry
        one document, so the first item (by ``order``) is the signed contract."""
        envelope = await self._call("GET", f"/envelope/{provider_envelope_id}")
        items = [i for i in envelope.get("envelopeItems") or [] if isinstance(i, dict)]
        items.sort(key=lambda item: item.get("order") or 0)
        item_id = text_or_none(items[0].get("id")) if items else None
        if item_id is None:
            raise PermanentError("documenso envelope has no document to download")
        async for chunk in stream_pdf(
            self._client,
            PROVIDER,
            f"{self._base}/api/v2/envelope/item/{item_id}/download",
            params={"version": "signed"},
            headers={"Authorization": self._api_token},
            code_keys=("code",),
        ):
            yield chunk

    async def _call(
        self, method: str, path: str, body: Any = None, files: Any = None
    ) -> dict[str, Any]:
        return await self._api.json_object(method, path, json=body, files=files)


def _time(value: Any, field: str) -> datetime:
    try:
        return parse_time(value, field)
    except MalformedPayload as exc:
        raise PermanentError(f"documenso answered with an unreadable {field}") from exc
