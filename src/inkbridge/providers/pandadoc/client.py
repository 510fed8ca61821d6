"""The outbound half of PandaDoc (public API v1): create documents from templates, send them,
open embedded signing sessions and read a document's status back for reconciliation.

PandaDoc creates documents asynchronously: ``POST /documents`` answers ``document.uploaded`` and
the document becomes ``document.draft`` moments later; only a draft can be sent. The client polls
the status a bounded number of times, and creation is idempotent on inkbridge's envelope id: it
first looks for a document whose metadata already carries that id (an earlier attempt that timed
out or was still processing) and carries on with it instead of creating a second one.

Every ``spec.metadata`` pair, with ``inkbridge_envelope_id``, goes into the document's
``metadata``, which PandaDoc echoes in every webhook.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, PermanentError, RetryableError
from inkbridge.providers._common import META_ENVELOPE, parse_time, text_or_none
from inkbridge.providers.base import CreatedEnvelope, EnvelopeSpec, SigningRequest
from inkbridge.providers.pandadoc.adapter import STATUSES as WEBHOOK_STATUSES
from inkbridge.vendor_http.credentials import CredentialCheck
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.endpoint import VendorEndpoint

PROVIDER = "pandadoc"
DEFAULT_BASE_URL = "https://api.pandadoc.com/public/v1"
DEFAULT_APP_URL = "https://app.pandadoc.com"

# The statuses webhooks report, and paid: completed and paid for (inkbridge cares about the
# completion), a status the API answers and no webhook carries.
STATUSES: dict[str, EventType] = WEBHOOK_STATUSES | {"document.paid": EventType.DOCUMENT_COMPLETED}
PROCESSING = "document.uploaded"
DRAFT = "document.draft"
FAILED = "document.error"


class PandaDocClient:
    """``ProviderClient`` for PandaDoc.

    ``roles`` names the template role of each signer by position (PandaDoc matches recipients
    to template roles by name); without it recipients are sent without a role.
    ``send_emails=False`` sends silently, for embedded signing only.
    """

    provider = PROVIDER
    min_poll_interval_seconds = 0.0  # PandaDoc sets rate limits, not a polling rule

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str,
        client: httpx.AsyncClient,
        app_url: str = DEFAULT_APP_URL,
        roles: Sequence[str] = (),
        send_emails: bool = False,
        session_lifetime_seconds: int = 3600,
        draft_poll_attempts: int = 10,
        draft_poll_interval_seconds: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._api = VendorEndpoint(
            client, PROVIDER, self._base, {"Authorization": f"API-Key {api_key}"}, ("type",)
        )
        self._client = client
        self._app_url = app_url.rstrip("/")
        self._roles = tuple(roles)
        self._send_emails = send_emails
        self._session_lifetime = session_lifetime_seconds
        self._poll_attempts = draft_poll_attempts
        self._poll_interval = draft_poll_interval_seconds
        self._sleep = sleep

    def __repr__(self) -> str:  # the API key stays out of logs and tracebacks
        return f"PandaDocClient(base_url={self._base!r})"

    async def check_credentials(self) -> CredentialCheck:
        """The member the API key belongs to (``inkbridge doctor``): any valid key reads it."""
        return await self._api.check_get("/members/current")

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        found = await self._call(
            "GET", "/documents", params={f"metadata_{META_ENVELOPE}": spec.envelope_id}
        )
        earlier = [d for d in found.get("results") or [] if isinstance(d, dict)]
        if earlier:
            document = earlier[0]
        else:
            document = await self._call("POST", "/documents", self._document_body(spec))
        document_id = text_or_none(document.get("id"))
        if document_id is None:
            raise PermanentError("pandadoc answered without a document id")
        status = str(document.get("status", ""))
        attempts = 0
        while status == PROCESSING and attempts < self._poll_attempts:
            attempts += 1
            await self._sleep(self._poll_interval)
            status = str((await self._call("GET", f"/documents/{document_id}")).get("status"))
        if status == PROCESSING:
            # Not an error: the next attempt finds this document by its metadata and goes on.
            raise RetryableError("pandadoc is still processing the document", self._poll_interval)
        if status == FAILED:
            raise PermanentError("pandadoc could not create the document")
        if status == DRAFT:
            sent = await self._call(
                "POST", f"/documents/{document_id}/send", {"silent": not self._send_emails}
            )
            status = str(sent.get("status", "document.sent"))
        return CreatedEnvelope(provider_envelope_id=document_id, status=status)

    def _document_body(self, spec: EnvelopeSpec) -> dict[str, Any]:
        recipients: list[dict[str, Any]] = []
        for index, signer in enumerate(spec.signers):
            first, _, last = signer.name.strip().partition(" ")
            recipient: dict[str, Any] = {
                "email": signer.email,
                "first_name": first,
                "last_name": last,
            }
            if index < len(self._roles):
                recipient["role"] = self._roles[index]
            recipients.append(recipient)
        return {
            "name": spec.title,
            "template_uuid": spec.template_id,
            "recipients": recipients,
            "tokens": [{"name": k, "value": v} for k, v in spec.merge_fields.items()],
            "metadata": {**spec.metadata, META_ENVELOPE: spec.envelope_id},
            "tags": ["inkbridge"],
        }

    async def signing_url(self, request: SigningRequest) -> str:
        # PandaDoc's embedded session reports completion to the host page by postMessage;
        # it takes no return URL.
        data = await self._call(
            "POST",
            f"/documents/{request.provider_envelope_id}/session",
            {"recipient": request.signer.email, "lifetime": self._session_lifetime},
        )
        session_id = text_or_none(data.get("id"))
        if session_id is None:
            raise PermanentError("pandadoc answered without a session id")
        return f"{self._app_url}/s/{session_id}"

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        """The document's current status, dated by its last modification.

        PandaDoc's status API gives no history, so this is at most one event; drafts and
        documents still processing give none.
        """
        data = await self._call("GET", f"/documents/{provider_envelope_id}")
        status = str(data.get("status", ""))
        kind = STATUSES.get(status)
        if kind is None:
            return []
        try:
            when = parse_time(data.get("date_modified"), "date_modified")
        except MalformedPayload as exc:
            raise PermanentError("pandadoc answered with an unreadable date_modified") from exc
        return [
            NormalizedEvent(
                type=kind,
                provider=PROVIDER,
                provider_envelope_id=provider_envelope_id,
                occurred_at=when,
                vendor_event=status,
            )
        ]

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """The document as a PDF (``/documents/{id}/download``)."""
        async for chunk in stream_pdf(
            self._client,
            PROVIDER,
            f"{self._base}/documents/{provider_envelope_id}/download",
            headers={"Authorization": f"API-Key {self._api_key}"},
            code_keys=("type",),
        ):
            yield chunk

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._api.json_object(method, path, json=body, params=params)
