"""Adobe Acrobat Sign (webhooks 2.0): the inbound webhook adapter.

Acrobat Sign signs nothing. Every request (the registration GET and each notification POST)
carries ``X-ADOBESIGN-CLIENTID``, the id of the API application that registered the webhook;
the receiver proves intent by echoing that id back, as the ``X-AdobeSign-ClientId`` response
header and as ``{"xAdobeSignClientId": ...}`` in the body (both, so either reading works). The
configured secrets are the client ids this connection accepts; an unknown id is refused and never
echoed. ``webhookNotificationId`` is unique per notification and is the dedup key. A webhook that
keeps failing is disabled by Adobe, so reconciliation polling must back this adapter up.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import (
    SecretsAdapter,
    bounded_key,
    inkbridge_metadata,
    load_json_object,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import Acknowledgement, InboundRequest

CLIENT_ID_HEADER = "x-adobesign-clientid"
ECHO_HEADER = "X-AdobeSign-ClientId"

EVENTS: dict[str, EventType] = {
    "AGREEMENT_ACTION_REQUESTED": EventType.DOCUMENT_SENT,
    "AGREEMENT_EMAIL_VIEWED": EventType.DOCUMENT_VIEWED,
    "AGREEMENT_ACTION_COMPLETED": EventType.RECIPIENT_SIGNED,
    "AGREEMENT_WORKFLOW_COMPLETED": EventType.DOCUMENT_COMPLETED,
    "AGREEMENT_REJECTED": EventType.DOCUMENT_DECLINED,
    "AGREEMENT_RECALLED": EventType.DOCUMENT_VOIDED,
    "AGREEMENT_EXPIRED": EventType.DOCUMENT_EXPIRED,
    "AGREEMENT_EMAIL_BOUNCED": EventType.DOCUMENT_DELIVERY_FAILED,
    "AGREEMENT_REMINDER_SENT": EventType.REMINDER_SENT,
}


class AcrobatSignAdapter(SecretsAdapter):
    """Inbound adapter for Acrobat Sign agreement notifications and webhook registration. Each
    secret is an accepted client id (several while an application is being replaced)."""

    provider = "acrobat_sign"
    content_types = frozenset({"application/json"})
    # The client id is this connection's only credential; it is not kept with receipts.
    secret_headers = frozenset({CLIENT_ID_HEADER})

    def _known_client_id(self, request: InboundRequest) -> str:
        """The configured client id the request names; ``SignatureInvalid`` when it names none."""
        offered = request.headers.get(CLIENT_ID_HEADER, "").strip().encode()
        if not offered:
            raise SignatureInvalid("no X-ADOBESIGN-CLIENTID header")
        known: str | None = None
        # Every configured id is compared (no early exit) so timing does not rank the ids.
        for client_id in self._secrets:
            candidate = client_id.get_secret_value()
            if hmac.compare_digest(candidate.encode(), offered):
                known = candidate
        if known is None:
            raise SignatureInvalid("unknown client id")
        return known

    def _echo(self, client_id: str) -> Acknowledgement:
        # The configured value is echoed, never the request's bytes.
        return Acknowledgement(
            status=200,
            body=json.dumps({"xAdobeSignClientId": client_id}).encode(),
            media_type="application/json",
            headers={ECHO_HEADER: client_id},
        )

    def verify(self, request: InboundRequest) -> None:
        self._known_client_id(request)

    def verify_registration(self, request: InboundRequest) -> Acknowledgement:
        """Answer the registration GET Adobe sends before activating a webhook."""
        return self._echo(self._known_client_id(request))

    def dedup_key(self, request: InboundRequest) -> str:
        payload = load_json_object(request.body)
        notification_id = text_or_none(payload.get("webhookNotificationId"))
        if notification_id is None:
            raise MalformedPayload("webhookNotificationId is required")
        return bounded_key(notification_id)

    def acknowledge(self, request: InboundRequest) -> Acknowledgement:
        # Only reached after verify; re-resolving keeps an unknown id from ever being echoed.
        return self._echo(self._known_client_id(request))

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        payload = load_json_object(request.body)
        vendor_event = str(payload.get("event", ""))
        event_type = EVENTS.get(vendor_event)
        if event_type is None:
            return []  # unknown or untracked event types are stored and ignored, not rejected
        agreement = object_at(payload, "agreement")
        agreement_id = text_or_none(agreement.get("id"))
        if agreement_id is None:
            raise MalformedPayload("agreement.id is required")
        return [
            NormalizedEvent(
                type=event_type,
                provider=self.provider,
                provider_envelope_id=agreement_id,
                occurred_at=parse_time(payload.get("eventDate"), "eventDate", request.received_at),
                recipient_id=text_or_none(payload.get("participantUserId")),
                recipient_email=text_or_none(payload.get("participantUserEmail")),
                vendor_event=vendor_event,
                metadata=_metadata(agreement),
            )
        ]


def _metadata(agreement: dict[str, Any]) -> dict[str, str]:
    # Acrobat Sign has one external id slot; inkbridge puts its envelope id there.
    external = text_or_none(object_at(agreement, "externalId").get("id"))
    return inkbridge_metadata({"inkbridge_envelope_id": external}) if external else {}
