"""The six e-signature providers' real-format deliveries through their emulators over real
HTTP: acknowledged as each vendor expects (Acrobat Sign's registration echo too), tampered ones
refused storing nothing, a redelivery changing nothing, and either of two rotated secrets."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.acceptance.provider_stack import ProviderStack
from tests.acceptance.provider_traffic import Delivery, copy_of, resigned, tampered_copies
from tests.acceptance.provider_vendors import (
    ACROBAT_CLIENT_ID,
    DOCUSEAL_KEYS,
    DOCUSIGN_CONNECT_KEYS,
    PROVIDERS,
)

pytestmark = pytest.mark.slow


def acknowledged_as_the_vendor_expects(delivery: Delivery) -> bool:
    if delivery.status != 200:
        return False
    if delivery.provider == "dropbox_sign":
        return delivery.answer_body == b"Hello API Event Received"
    if delivery.provider == "acrobat_sign":
        echoed = delivery.answer_headers.get("x-adobesign-clientid")
        body = json.loads(delivery.answer_body)
        return echoed == ACROBAT_CLIENT_ID and body == {"xAdobeSignClientId": ACROBAT_CLIENT_ID}
    return True  # DocuSign, PandaDoc, Documenso and DocuSeal want a plain 2xx


# 1. Real-format deliveries, acknowledged as each vendor expects.


@pytest.mark.parametrize("provider", PROVIDERS)
def test_vendor_deliveries_are_accepted_and_acknowledged_as_the_vendor_expects(
    world: ProviderStack, provider: str
) -> None:
    view, deliveries = world.completed_deliveries(provider)
    counters = world.vendors[provider].emulator.emitter.counters

    # The emulators count a delivery only once the answer is what the vendor requires
    # (Dropbox Sign: 200 + "Hello API Event Received"; Acrobat: the client id echoed).
    assert counters.delivered > 0
    assert counters.gave_up == 0
    assert deliveries, "no webhook of this envelope reached inkbridge"
    for delivery in deliveries:
        assert acknowledged_as_the_vendor_expects(delivery), (
            delivery.event,
            delivery.status,
            delivery.answer_headers,
            delivery.answer_body[:200],
        )
        assert delivery.answer_headers.get("x-inkbridge-receipt", "").isdigit()
    # Each signed delivery was stored (one receipt per distinct delivery) and processed.
    receipts = {int(d.answer_headers["x-inkbridge-receipt"]) for d in deliveries}
    sources = world.receipt_sources(view["correlation_id"])
    timeline_receipts = {e["receipt_id"] for e in view["timeline"]}
    assert receipts & timeline_receipts, "no delivery of this envelope reached its timeline"
    assert all(sources[r] == "webhook" for r in receipts & set(sources))


def test_acrobat_webhook_registration_is_answered_with_the_client_id_echo(
    world: ProviderStack,
) -> None:
    vendor = world.vendors["acrobat_sign"]
    with httpx.Client(base_url=vendor.base, timeout=30) as acrobat:
        token = acrobat.post(
            "/oauth/v2/refresh",
            data={
                "grant_type": "refresh_token",
                "client_id": ACROBAT_CLIENT_ID,
                "client_secret": "acrobat-secret-ink",
                "refresh_token": "acrobat-refresh-ink",
            },
        ).json()["access_token"]
        # Acrobat registers a webhook only after a GET to it came back with the id echoed.
        registered = acrobat.post(
            "/api/rest/v6/webhooks",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "name": "inkbridge",
                "scope": "ACCOUNT",
                "state": "ACTIVE",
                "webhookSubscriptionEvents": ["AGREEMENT_ALL"],
                "webhookUrlInfo": {"url": world.hook("acrobat_sign")},
            },
        )
    assert registered.status_code == 201, registered.text
    check = world.recorder.registrations("acrobat_sign")[-1]
    assert check.status == 200
    assert check.answer_headers["x-adobesign-clientid"] == ACROBAT_CLIENT_ID
    # An unknown client id is refused and never echoed.
    stranger = httpx.get(
        world.hook("acrobat_sign"), headers={"X-ADOBESIGN-CLIENTID": "someone-else"}, timeout=10
    )
    assert stranger.status_code == 401
    assert "x-adobesign-clientid" not in stranger.headers
    assert "someone-else" not in stranger.text


# 2. Tampered deliveries are refused and nothing is stored.


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tampered_delivery_is_refused_and_nothing_is_stored(
    world: ProviderStack, provider: str
) -> None:
    view, deliveries = world.completed_deliveries(provider)
    original = deliveries[-1]
    copies = tampered_copies(original)
    receipts_before = world.receipt_count(provider)
    refused_before = world.webhook_metric(provider, "invalid_signature")
    timeline_before = len(world.envelope(view["id"])["timeline"])

    for tampered in copies:
        answer = world.send(tampered)
        assert answer.status_code == 401, (tampered.what, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "x-inkbridge-receipt" not in answer.headers

    assert world.receipt_count(provider) == receipts_before
    assert world.webhook_metric(provider, "invalid_signature") == refused_before + len(copies)
    assert len(world.envelope(view["id"])["timeline"]) == timeline_before
    # The untampered original still verifies (it is a duplicate by now).
    assert world.send(copy_of(original)).status_code == 200


# 3. A redelivery changes nothing.


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_redelivery_is_acknowledged_and_changes_nothing(
    world: ProviderStack, provider: str
) -> None:
    view, deliveries = world.completed_deliveries(provider)
    before = world.envelope(view["id"])
    receipts_before = world.receipt_count(provider)
    duplicates_before = world.webhook_metric(provider, "duplicate")

    for delivery in deliveries:
        answer = world.send(copy_of(delivery))
        assert answer.status_code == 200, (delivery.event, answer.text)
        assert answer.headers["x-inkbridge-duplicate"] == "true"
        assert (
            answer.headers["x-inkbridge-receipt"] == delivery.answer_headers["x-inkbridge-receipt"]
        )
        assert answer.content == delivery.answer_body  # the same acknowledgement again

    after = world.envelope(view["id"])
    assert after["state"] == before["state"] == "completed"
    assert len(after["timeline"]) == len(before["timeline"])
    assert after["updated_at"] == before["updated_at"]
    assert world.receipt_count(provider) == receipts_before
    assert world.webhook_metric(provider, "duplicate") == duplicates_before + len(deliveries)


@pytest.mark.parametrize("provider", ["docusign", "docuseal"])
def test_either_of_two_rotated_secrets_verifies(world: ProviderStack, provider: str) -> None:
    retiring, current = (DOCUSIGN_CONNECT_KEYS if provider == "docusign" else DOCUSEAL_KEYS)[:2]
    _, deliveries = world.completed_deliveries(provider)
    delivery = deliveries[0]

    # The emulator signs with the current secret only; inkbridge accepted all of those.
    assert all(d.status == 200 for d in deliveries)
    by_retiring = world.send(resigned(delivery, retiring))
    assert by_retiring.status_code == 200, by_retiring.text
    assert by_retiring.headers["x-inkbridge-duplicate"] == "true"
    by_current = world.send(resigned(delivery, current))
    assert by_current.status_code == 200
    unknown = world.send(resigned(delivery, "whsec_never_configured_anywhere"))
    assert unknown.status_code == 401
