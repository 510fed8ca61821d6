"""What a vendor may do is part of the adapter protocol (providers/base.py), with defaults: only
Dropbox Sign's terminal claims wait for confirmation, only Acrobat Sign answers a registration
GET, and only the reconciler's status reports are authoritative."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.providers.acrobat_sign.adapter import CLIENT_ID_HEADER, AcrobatSignAdapter
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.services.reconcile import StatusReports, encode_report

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SECRETS = [SecretStr("whsec_" + "a" * 32)]


def _get(headers: dict[str, str], body: bytes = b"") -> InboundRequest:
    return InboundRequest("c", "GET", headers, {}, body, T)


def test_only_dropbox_sign_holds_terminal_claims_for_confirmation() -> None:
    assert DropboxSignAdapter(SECRETS).terminal_needs_confirmation is True
    assert DocuSignConnectAdapter(SECRETS).terminal_needs_confirmation is False
    assert StandardWebhooksAdapter(SECRETS).terminal_needs_confirmation is False
    assert not DropboxSignAdapter(SECRETS).authoritative


def test_a_provider_without_a_registration_handshake_answers_none() -> None:
    assert DocuSignConnectAdapter(SECRETS).verify_registration(_get({})) is None
    assert StandardWebhooksAdapter(SECRETS).verify_registration(_get({})) is None


def test_acrobat_sign_echoes_a_known_client_id_at_registration() -> None:
    adapter = AcrobatSignAdapter([SecretStr("client-1")])
    ack = adapter.verify_registration(_get({CLIENT_ID_HEADER.lower(): "client-1"}))
    assert ack is not None and ack.status == 200
    assert b"client-1" in ack.body


def test_status_reports_are_authoritative_and_read_the_report_back() -> None:
    event = NormalizedEvent(
        type=EventType.DOCUMENT_COMPLETED,
        provider="docusign",
        provider_envelope_id="p1",
        occurred_at=T,
        vendor_event="completed",
    )
    source = StatusReports()
    request = _get({}, encode_report("env_1", [event]))
    assert source.authoritative and not source.terminal_needs_confirmation
    (read,) = source.parse(request)
    assert read.type is EventType.DOCUMENT_COMPLETED
    assert read.occurred_at == T
    assert read.metadata == {"inkbridge_envelope_id": "env_1"}
