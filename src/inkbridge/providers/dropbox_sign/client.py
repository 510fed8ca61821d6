"""The outbound half of Dropbox Sign (API v3): create signature requests, mint embedded signing
URLs and read a request back as normalized events.

Authentication is HTTP basic with the API key as the user name. With an API app ``client_id``
requests are embedded (``create_embedded_with_template`` / ``create_embedded``) and signed
through ``GET /embedded/sign_url/{signature_id}``; without one they are sent by email
(``send_with_template`` / ``send``) and there is no signing URL to give out. The return URL of
``signing_url`` is not Dropbox Sign's to honour: the page hosting the embedded iframe redirects.

inkbridge's ids ride in ``metadata``, which Dropbox Sign caps at 10 keys of up to 40 characters
with values up to 500: the ids go first so attribution is what gets cut.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.providers._common import (
    INKBRIDGE_METADATA_KEYS,
    META_ENVELOPE,
    ReportEvents,
    inkbridge_metadata,
    object_at,
    text_or_none,
)
from inkbridge.providers.base import CreatedEnvelope, EnvelopeSpec, Signer, SigningRequest
from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.responses import raise_for_status, send, short_code

DEFAULT_BASE_URL = "https://api.hellosign.com/v3"
MAX_METADATA_KEYS = 10
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_TITLE_LENGTH = 255
# Signature ids kept from create answers; older ones are looked up through the API instead.
SIGNATURE_CACHE_SIZE = 2048


@dataclass(frozen=True)
class DropboxSignTemplate:
    """One inkbridge template at Dropbox Sign: a template and its signer roles (one per signer,
    in order), or documents fetched from URLs."""

    template_id: str | None = None
    role_names: tuple[str, ...] = ("Signer",)
    file_urls: tuple[str, ...] = ()


def bounded_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """``metadata`` within Dropbox Sign's limits, inkbridge's ids first.

    Keys too long are dropped (a cut key would be another key); long values are cut.
    """
    ordered = [k for k in INKBRIDGE_METADATA_KEYS if k in metadata]
    ordered += [k for k in metadata if k not in INKBRIDGE_METADATA_KEYS]
    out: dict[str, str] = {}
    for key in ordered:
        if len(out) == MAX_METADATA_KEYS:
            break
        value = str(metadata[key])
        if len(key) <= MAX_METADATA_KEY_LENGTH and value:
            out[key] = value[:MAX_METADATA_VALUE_LENGTH]
    return out


class DropboxSignClient:
    """``ProviderClient`` for Dropbox Sign."""

    # Dropbox Sign documents no polling rule; its per-minute rate limit answers 429 if crossed.
    min_poll_interval_seconds = 0.0

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str,
        client: httpx.AsyncClient,
        test_mode: bool = True,
        client_id: str | None = None,
        template_map: Mapping[str, DropboxSignTemplate] | None = None,
        provider: str = "dropbox_sign",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self._base = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(api_key, "")
        self._client = client
        self.test_mode = test_mode
        self.client_id = client_id
        self._templates = dict(template_map or {})
        self._clock = clock
        # signature_request_id -> recipient_id -> (signer email, signature_id)
        self._signatures: OrderedDict[str, dict[str, tuple[str, str]]] = OrderedDict()

    def __repr__(self) -> str:
        return f"DropboxSignClient(provider={self.provider!r}, test_mode={self.test_mode})"

    async def check_credentials(self) -> CredentialCheck:
        """The API key's account (``inkbridge doctor``): ``GET /account`` reads nothing else."""
        return await authenticated_get(
            self._client, "dropbox_sign", self._base + "/account", auth=self._auth
        )

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        path, body = self.request_for(spec)
        data = await self._call("POST", path, body)
        request = object_at(data, "signature_request")
        request_id = text_or_none(request.get("signature_request_id"))
        if request_id is None:
            raise PermanentError("dropbox sign answered without a signature_request_id")
        self._remember(request_id, spec.signers, request.get("signatures"))
        return CreatedEnvelope(provider_envelope_id=request_id, status="sent")

    def request_for(self, spec: EnvelopeSpec) -> tuple[str, dict[str, Any]]:
        """The endpoint and JSON body that create ``spec`` (embedded when a client id is set)."""
        template = self._templates.get(spec.template_id) or DropboxSignTemplate(spec.template_id)
        title = spec.title[:MAX_TITLE_LENGTH]
        body: dict[str, Any] = {
            "title": title,
            "subject": title,
            "metadata": bounded_metadata({META_ENVELOPE: spec.envelope_id, **spec.metadata}),
            "test_mode": self.test_mode,
        }
        if self.client_id is not None:
            body["client_id"] = self.client_id
        if spec.merge_fields:
            body["custom_fields"] = [{"name": k, "value": v} for k, v in spec.merge_fields.items()]
        embedded = self.client_id is not None
        if template.file_urls:
            body["file_urls"] = list(template.file_urls)
            body["signers"] = [
                {"name": s.name, "email_address": s.email, "order": index}
                for index, s in enumerate(spec.signers)
            ]
            return (
                "/signature_request/create_embedded" if embedded else "/signature_request/send"
            ), body
        if len(spec.signers) > len(template.role_names):
            raise PermanentError(
                f"template {spec.template_id!r} has {len(template.role_names)} role(s) "
                f"for {len(spec.signers)} signer(s)"
            )
        body["template_ids"] = [template.template_id or spec.template_id]
        body["signers"] = [
            {"role": role, "name": s.name, "email_address": s.email}
            for s, role in zip(spec.signers, template.role_names, strict=False)
        ]
        path = "create_embedded_with_template" if embedded else "send_with_template"
        return f"/signature_request/{path}", body

    async def signing_url(self, request: SigningRequest) -> str:
        if self.client_id is None:
            raise PermanentError("dropbox sign embedded signing needs an API app client_id")
        signature_id = self._cached_signature(request.provider_envelope_id, request.signer)
        if signature_id is None:
            data = await self._call("GET", f"/signature_request/{request.provider_envelope_id}")
            signature_id = _signature_of(object_at(data, "signature_request"), request.signer)
        data = await self._call("GET", f"/embedded/sign_url/{signature_id}")
        url = object_at(data, "embedded").get("sign_url")
        if not isinstance(url, str) or not url:
            raise PermanentError("dropbox sign answered without a sign_url")
        return url

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        response = await self._send("GET", f"/signature_request/{provider_envelope_id}", None)
        if response.status_code == 410:
            # Dropbox Sign answers 410 for a canceled request; its cancel time is not kept.
            event = ReportEvents(self.provider, provider_envelope_id, {})
            return [event(EventType.DOCUMENT_VOIDED, now, "signature_request_canceled")]
        data = self._read(response)
        return request_events(
            object_at(data, "signature_request"), self.provider, provider_envelope_id, now
        )

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """The request's documents merged into one PDF; a 409 (files still being prepared)
        is retryable."""
        async for chunk in stream_pdf(
            self._client,
            "dropbox sign",
            f"{self._base}/signature_request/files/{provider_envelope_id}",
            params={"file_type": "pdf"},
            auth=self._auth,
            retryable_statuses=frozenset({409}),
        ):
            yield chunk

    def _remember(self, request_id: str, signers: tuple[Signer, ...], signatures: Any) -> None:
        pool = (
            [s for s in signatures if isinstance(s, dict)] if isinstance(signatures, list) else []
        )
        found: dict[str, tuple[str, str]] = {}
        for signer in signers:
            for entry in pool:
                signature_id = text_or_none(entry.get("signature_id"))
                address = str(entry.get("signer_email_address", ""))
                if signature_id and address.casefold() == signer.email.casefold():
                    found[signer.recipient_id] = (signer.email, signature_id)
                    pool.remove(entry)  # two signers with one address take one signature each
                    break
        self._signatures[request_id] = found
        while len(self._signatures) > SIGNATURE_CACHE_SIZE:
            self._signatures.popitem(last=False)

    def _cached_signature(self, request_id: str, signer: Signer) -> str | None:
        entry = self._signatures.get(request_id, {}).get(signer.recipient_id)
        if entry is None or entry[0].casefold() != signer.email.casefold():
            return None
        return entry[1]

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._read(await self._send(method, path, body))

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        return await send(
            self._client, "dropbox sign", method, self._base + path, json=body, auth=self._auth
        )

    def _read(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            if response.status_code < 300:
                raise RetryableError("dropbox sign answered with invalid JSON") from None
            data = {}
        if not isinstance(data, dict):
            raise PermanentError("dropbox sign answered with a non-object body")
        # error_name is a fixed vocabulary (bad_request, not_found, exceeded_rate, ...);
        # error_msg may quote what was sent, so it stays out of reasons.
        raise_for_status(
            "dropbox sign", response, short_code(object_at(data, "error").get("error_name"))
        )
        return data


def _signature_of(request: dict[str, Any], signer: Signer) -> str:
    """The signature id of ``signer`` in a signature request, matched by address then name."""
    signatures = [s for s in request.get("signatures") or [] if isinstance(s, dict)]
    matches = [
        s
        for s in signatures
        if str(s.get("signer_email_address", "")).casefold() == signer.email.casefold()
    ]
    if len(matches) > 1:
        matches = [s for s in matches if s.get("signer_name") == signer.name] or matches
    signature_id = text_or_none(matches[0].get("signature_id")) if matches else None
    if signature_id is None:
        raise PermanentError("the signer is not part of this dropbox sign request")
    return signature_id


def _at(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def request_events(
    request: dict[str, Any], provider: str, request_id: str, now: datetime
) -> list[NormalizedEvent]:
    """A signature request as the normalized events that led to its state, oldest first, named
    after the callbacks that would have reported them. Declines carry no time at Dropbox Sign,
    so they are dated when observed (``now``)."""
    metadata = inkbridge_metadata(object_at(request, "metadata"))
    events: list[NormalizedEvent] = []
    report = ReportEvents(provider, request_id, metadata, "signature_id", "signer_email_address")

    def add(
        event_type: EventType, when: datetime, vendor: str, sig: dict[str, Any] | None = None
    ) -> None:
        events.append(report(event_type, when, vendor, sig))

    created = _at(request.get("created_at"))
    if created is not None:
        add(EventType.DOCUMENT_SENT, created, "signature_request_sent")
    signed_times: list[datetime] = []
    for signature in request.get("signatures") or []:
        if not isinstance(signature, dict):
            continue
        viewed, signed = _at(signature.get("last_viewed_at")), _at(signature.get("signed_at"))
        if viewed is not None:
            add(EventType.DOCUMENT_VIEWED, viewed, "signature_request_viewed", signature)
        if signed is not None:
            signed_times.append(signed)
            add(EventType.RECIPIENT_SIGNED, signed, "signature_request_signed", signature)
        if signature.get("status_code") == "declined":
            add(EventType.DOCUMENT_DECLINED, now, "signature_request_declined", signature)
    declined = any(e.type is EventType.DOCUMENT_DECLINED for e in events)
    if request.get("is_declined") is True and not declined:
        add(EventType.DOCUMENT_DECLINED, now, "signature_request_declined")
    expires = _at(request.get("expires_at"))
    if request.get("is_complete") is True:
        add(
            EventType.DOCUMENT_COMPLETED,
            max(signed_times, default=now),
            "signature_request_all_signed",
        )
    elif request.get("is_declined") is not True and expires is not None and expires <= now:
        add(EventType.DOCUMENT_EXPIRED, expires, "signature_request_expired")
    events.sort(key=lambda e: e.occurred_at)
    return events
