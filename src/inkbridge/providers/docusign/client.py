"""The outbound half of DocuSign (eSignature REST v2.1): create and send envelopes for embedded
signing, mint recipient-view URLs and read an envelope back as normalized events.

Authentication is the OAuth JWT grant (``DocuSignJwtAuth``); a 401 drops the cached token and
the request is tried once more with a fresh one. inkbridge's ids ride in the envelope's text
custom fields, which DocuSign echoes in every Connect message. Signers get a ``clientUserId``,
which makes them embedded ("captive") recipients: DocuSign sends them no email and the signing
link comes from ``signing_url``. Status reads are limited by DocuSign to one per 15 minutes per
envelope, hence ``min_poll_interval_seconds``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, PermanentError
from inkbridge.providers._common import (
    META_ENVELOPE,
    ReportEvents,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import (
    CreatedEnvelope,
    EnvelopeSpec,
    Signer,
    SignerAuthentication,
    SigningRequest,
)
from inkbridge.providers.docusign.adapter import (
    EXPIRED_VOID_REASON,
    RECIPIENT_GROUPS,
    custom_fields,
)
from inkbridge.providers.docusign.auth import DocuSignJwtAuth
from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.downloads import stream_pdf
from inkbridge.vendor_http.responses import body_error_code, json_object, raise_for_status, send

# DocuSign documents 100 characters as the most a custom field value or a subject may hold.
MAX_CUSTOM_FIELD_VALUE = 100
MAX_EMAIL_SUBJECT = 100
# Older DocuSign stacks report rate limits as 400s with these codes: they heal with time.
RATE_LIMIT_CODES = frozenset(
    {"HOURLY_APIINVOCATION_LIMIT_EXCEEDED", "BURST_APIINVOCATION_LIMIT_EXCEEDED"}
)


@dataclass(frozen=True)
class DocuSignDocument:
    """A document sent inline instead of a server template; signers sign at the anchor text."""

    name: str
    content: bytes
    file_extension: str = "pdf"
    sign_here_anchor: str = "/sn1/"


@dataclass(frozen=True)
class DocuSignTemplate:
    """How one inkbridge template is sent: a server template and its role names (one per
    signer, in order), or an inline document."""

    template_id: str | None = None
    role_names: tuple[str, ...] = ("signer",)
    document: DocuSignDocument | None = None


# inkbridge's authentication methods as the nearest of DocuSign's documented
# ``authenticationMethod`` values (DocuSign has no one-time-code or passkey value); the exact
# method stays in inkbridge's audit log.
AUTHENTICATION_METHODS = {
    "password": "Password",
    "sso": "SingleSignOn_Other",
    "otp": "Email",
    "mfa": "Password",
    "passkey": "Biometric",
    "magic_link": "Email",
}


def client_user_id(signer: Signer) -> str:
    """The ``clientUserId`` that makes a signer embedded; it must match again in the view."""
    return f"inkbridge-{signer.recipient_id}"


class DocuSignClient:
    """``ProviderClient`` for DocuSign; ``base_url`` ends in ``/restapi``."""

    min_poll_interval_seconds = 900.0  # DocuSign: one status read per envelope per 15 minutes

    def __init__(
        self,
        base_url: str,
        account_id: str,
        integration_key: str,
        user_id: str,
        private_key_pem: str,
        auth_url: str,
        client: httpx.AsyncClient,
        *,
        template_map: Mapping[str, DocuSignTemplate] | None = None,
        default_return_url: str | None = None,
        provider: str = "docusign",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self._account = f"{base_url.rstrip('/')}/v2.1/accounts/{account_id}"
        self._client = client
        self._templates = dict(template_map or {})
        self._default_return_url = default_return_url
        self.auth = DocuSignJwtAuth(
            auth_url=auth_url,
            integration_key=integration_key,
            user_id=user_id,
            private_key_pem=private_key_pem,
            client=client,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"DocuSignClient(provider={self.provider!r})"

    async def check_credentials(self) -> CredentialCheck:
        """The account itself (``inkbridge doctor``), after the JWT grant: a refused grant, or a
        user who is no member of the account, shows here before any envelope is sent."""
        return await authenticated_get(
            self._client,
            "docusign",
            self._account,
            auth=self.auth,
            code_keys=("errorCode",),
            headers={"Accept": "application/json"},
        )

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        data = await self._call("POST", "/envelopes", self.envelope_definition(spec))
        envelope_id = text_or_none(data.get("envelopeId"))
        if envelope_id is None:
            raise PermanentError("docusign answered without an envelopeId")
        return CreatedEnvelope(provider_envelope_id=envelope_id, status=str(data.get("status")))

    async def signing_url(self, request: SigningRequest) -> str:
        body = self.recipient_view_request(
            request.signer, request.return_url, request.authentication
        )
        data = await self._call(
            "POST", f"/envelopes/{request.provider_envelope_id}/views/recipient", body
        )
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentError("docusign answered without a view url")
        return url

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        # v2.1 leaves recipients and custom fields out unless asked for.
        data = await self._call(
            "GET",
            f"/envelopes/{provider_envelope_id}",
            params={"include": "recipients,custom_fields"},
        )
        try:
            return envelope_events(data, self.provider, provider_envelope_id)
        except MalformedPayload as exc:
            raise PermanentError(f"docusign envelope is unreadable: {exc.reason}") from None

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        """Every document of the envelope as one PDF (``documents/combined``)."""
        url = f"{self._account}/envelopes/{provider_envelope_id}/documents/combined"
        async for chunk in stream_pdf(
            self._client,
            "docusign",
            url,
            headers={"Accept": "application/pdf"},
            auth=self.auth,
            code_keys=("errorCode",),
            retryable_codes=RATE_LIMIT_CODES,
        ):
            yield chunk

    def envelope_definition(self, spec: EnvelopeSpec) -> dict[str, Any]:
        """The ``envelopeDefinition`` that creates and sends ``spec`` in one call."""
        template = self._templates.get(spec.template_id) or DocuSignTemplate(spec.template_id)
        metadata = {META_ENVELOPE: spec.envelope_id, **spec.metadata}
        body: dict[str, Any] = {
            "status": "sent",
            "emailSubject": spec.title[:MAX_EMAIL_SUBJECT],
            "customFields": {
                "textCustomFields": [
                    {
                        "name": key,
                        "value": str(value)[:MAX_CUSTOM_FIELD_VALUE],
                        "show": "false",
                        "required": "false",
                    }
                    for key, value in metadata.items()
                    if str(value)
                ]
            },
        }
        if template.document is not None:
            body.update(_inline_document(template.document, spec))
            return body
        if len(spec.signers) > len(template.role_names):
            raise PermanentError(
                f"template {spec.template_id!r} has {len(template.role_names)} role(s) "
                f"for {len(spec.signers)} signer(s)"
            )
        text_tabs = [{"tabLabel": k, "value": v} for k, v in spec.merge_fields.items()]
        roles = []
        for signer, role in zip(spec.signers, template.role_names, strict=False):
            entry: dict[str, Any] = {
                "roleName": role,
                "name": signer.name,
                "email": signer.email,
                "clientUserId": client_user_id(signer),
            }
            if text_tabs:
                entry["tabs"] = {"textTabs": text_tabs}
            roles.append(entry)
        body["templateId"] = template.template_id or spec.template_id
        body["templateRoles"] = roles
        return body

    def recipient_view_request(
        self,
        signer: Signer,
        return_url: str | None,
        authentication: SignerAuthentication | None = None,
    ) -> dict[str, str]:
        """The ``recipientViewRequest`` for an embedded signer. With the integrator's account of
        the signer's authentication, DocuSign records its method and time in the envelope's
        certificate of completion."""
        target = return_url or self._default_return_url
        if not target:
            raise PermanentError("docusign needs a return URL for embedded signing")
        body = {
            "returnUrl": target,
            "authenticationMethod": "none",
            "clientUserId": client_user_id(signer),
            "userName": signer.name,
            "email": signer.email,
        }
        if authentication is not None:
            body["authenticationMethod"] = AUTHENTICATION_METHODS.get(authentication.method, "None")
            body["authenticationInstant"] = authentication.authenticated_at.isoformat()
        return body

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        # ``self.auth`` refreshes the token once after a 401; a second 401 is permanent.
        response = await send(
            self._client,
            "docusign",
            method,
            self._account + path,
            json=body,
            params=params,
            headers={"Accept": "application/json"},
            auth=self.auth,
        )
        code = body_error_code(response, "errorCode")
        raise_for_status("docusign", response, code, retryable_codes=RATE_LIMIT_CODES)
        return json_object("docusign", response)


def _inline_document(document: DocuSignDocument, spec: EnvelopeSpec) -> dict[str, Any]:
    signers = [
        {
            "email": signer.email,
            "name": signer.name,
            "recipientId": signer.recipient_id,
            "routingOrder": "1",
            "clientUserId": client_user_id(signer),
            "tabs": {
                "signHereTabs": [
                    {
                        "anchorString": document.sign_here_anchor,
                        "anchorUnits": "pixels",
                        "anchorXOffset": "0",
                        "anchorYOffset": "0",
                    }
                ]
            },
        }
        for signer in spec.signers
    ]
    return {
        "documents": [
            {
                "documentId": "1",
                "name": document.name,
                "fileExtension": document.file_extension,
                "documentBase64": base64.b64encode(document.content).decode("ascii"),
            }
        ],
        "recipients": {"signers": signers},
    }


def envelope_events(
    envelope: dict[str, Any], provider: str, envelope_id: str
) -> list[NormalizedEvent]:
    """An envelope (with recipients) as the normalized events that led to its state, oldest
    first, named after the Connect events that would have reported them."""
    metadata = custom_fields(envelope)
    status = str(envelope.get("status") or "").lower()
    changed = envelope.get("statusChangedDateTime") or envelope.get("lastModifiedDateTime")
    events: list[NormalizedEvent] = []
    report = ReportEvents(provider, envelope_id, metadata, "recipientId")

    def add(
        event_type: EventType,
        when: Any,
        vendor_event: str,
        recipient: dict[str, Any] | None = None,
    ) -> None:
        events.append(report(event_type, parse_time(when, vendor_event), vendor_event, recipient))

    sent = envelope.get("sentDateTime") or envelope.get("initialSentDateTime")
    if sent:
        add(EventType.DOCUMENT_SENT, sent, "envelope-sent")
    recipients = object_at(envelope, "recipients")
    viewed = False
    for group in RECIPIENT_GROUPS:
        members = recipients.get(group)
        for member in members if isinstance(members, list) else []:
            if not isinstance(member, dict):
                continue
            if member.get("deliveredDateTime"):
                viewed = True
                add(
                    EventType.DOCUMENT_VIEWED,
                    member["deliveredDateTime"],
                    "recipient-delivered",
                    member,
                )
            if member.get("signedDateTime"):
                add(
                    EventType.RECIPIENT_SIGNED,
                    member["signedDateTime"],
                    "recipient-completed",
                    member,
                )
            if member.get("declinedDateTime"):
                add(
                    EventType.DOCUMENT_DECLINED,
                    member["declinedDateTime"],
                    "recipient-declined",
                    member,
                )
            if str(member.get("status") or "").lower() == "autoresponded" and changed:
                # DocuSign keeps no bounce time; the envelope's last change is the closest.
                add(EventType.DOCUMENT_DELIVERY_FAILED, changed, "recipient-autoresponded", member)
    if envelope.get("deliveredDateTime") and not viewed:
        add(EventType.DOCUMENT_VIEWED, envelope["deliveredDateTime"], "envelope-delivered")
    terminal = {
        "completed": (EventType.DOCUMENT_COMPLETED, "completedDateTime", "envelope-completed"),
        "declined": (EventType.DOCUMENT_DECLINED, "declinedDateTime", "envelope-declined"),
        "voided": (EventType.DOCUMENT_VOIDED, "voidedDateTime", "envelope-voided"),
    }
    if status in terminal:
        event_type, field, vendor_event = terminal[status]
        reason = str(envelope.get("voidedReason") or "").strip().lower()
        if status == "voided" and reason == EXPIRED_VOID_REASON:
            event_type = EventType.DOCUMENT_EXPIRED
        when = envelope.get(field) or changed
        if when:
            add(event_type, when, vendor_event)
    events.sort(key=lambda e: e.occurred_at)
    return events
