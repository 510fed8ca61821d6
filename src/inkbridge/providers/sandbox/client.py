"""The outbound half of the built-in sandbox provider: create envelopes, mint signing links and
read an envelope's event history back for reconciliation.

The inbound half needs no module of its own: the sandbox signs its webhooks with Standard
Webhooks in inkbridge's normalized format, which ``StandardWebhooksAdapter`` verifies and parses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.providers.base import CreatedEnvelope, EnvelopeSpec, SigningRequest
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.responses import is_retryable_status, json_object, retry_after

_TYPES = {t.value: t for t in EventType}


class SandboxProviderClient:
    """``ProviderClient`` for the sandbox provider's HTTP API (``base_url`` includes its mount)."""

    min_poll_interval_seconds = 0.0  # the sandbox sets no polling rule

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        provider: str = "sandbox",
        service_credential: str | None = None,
    ) -> None:
        self.provider = provider
        self._base = base_url.rstrip("/")
        self._client = client
        # The least-privilege sandbox service credential: create, status and signing link only.
        self._auth = {"authorization": f"Bearer {service_credential}"} if service_credential else {}

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        # inkbridge's own id rides in the metadata slot so every webhook echoes it back.
        metadata = {"envelope_id": spec.envelope_id, **spec.metadata}
        body = {
            "template_id": spec.template_id,
            "title": spec.title,
            "signers": [
                {"email": s.email, "name": s.name, "recipient_id": s.recipient_id}
                for s in spec.signers
            ],
            "metadata": metadata,
            "merge_fields": dict(spec.merge_fields),
        }
        # Keyed on inkbridge's id: a retry after a lost answer returns the same envelope.
        data = await self._call("POST", "/envelopes", body, {"idempotency-key": spec.envelope_id})
        envelope_ref = data.get("envelope_id")
        if not isinstance(envelope_ref, str) or not envelope_ref:
            raise PermanentError("sandbox provider answered without an envelope_id")
        return CreatedEnvelope(provider_envelope_id=envelope_ref, status=str(data.get("status")))

    async def signing_url(self, request: SigningRequest) -> str:
        # The sandbox's signing page admits only the browser whose signer cookie hashes to the
        # binding, so a link without one is refused there.
        if request.authentication is None:
            raise PermanentError("the sandbox provider signs only through a signer session")
        data = await self._call(
            "POST",
            f"/envelopes/{request.provider_envelope_id}/signing-url",
            {
                "recipient_id": request.signer.recipient_id,
                "return_url": request.return_url,
                "binding": request.authentication.binding,
            },
        )
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentError("sandbox provider answered without a signing url")
        return url

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        """The envelope's full history as normalized events, oldest first."""
        data = await self._call("GET", f"/envelopes/{provider_envelope_id}")
        metadata = data.get("metadata") or {}
        events: list[NormalizedEvent] = []
        for item in data.get("events") or []:
            event_type = _TYPES.get(str(item.get("type")))
            if event_type is None:
                continue
            try:
                occurred = datetime.fromisoformat(str(item["occurred_at"]))
            except (KeyError, ValueError):
                raise PermanentError("sandbox provider history has an unreadable time") from None
            recipient = item.get("recipient_id")
            events.append(
                NormalizedEvent(
                    type=event_type,
                    provider=self.provider,
                    provider_envelope_id=provider_envelope_id,
                    occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC),
                    recipient_id=str(recipient) if recipient is not None else None,
                    recipient_email=item.get("recipient_email"),
                    vendor_event=event_type.value,
                    metadata={str(k): str(v) for k, v in metadata.items()},
                )
            )
        return events

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """The signed PDF the sandbox keeps for a completed envelope."""
        url = f"{self._base}/envelopes/{provider_envelope_id}/document"
        # The sandbox's errors are free text ({"error"}): the reason names the status only.
        async for chunk in stream_pdf(
            self._client, "sandbox provider", url, headers=self._auth, code_keys=("code",)
        ):
            yield chunk

    async def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.request(
                method, self._base + path, json=body, headers={**self._auth, **(headers or {})}
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"sandbox provider unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if is_retryable_status(status):
            raise RetryableError(
                f"sandbox provider answered {status}", retry_after=retry_after(response)
            )
        if status >= 400:
            raise PermanentError(f"sandbox provider answered {status}: {_error_text(response)}")
        return json_object("sandbox provider", response)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return "no detail"
    error = data.get("error") if isinstance(data, dict) else None
    return str(error)[:200] if error else "no detail"
