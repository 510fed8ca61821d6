"""The six e-signature providers end to end, each through its emulator over real HTTP.

One ``inkbridge serve`` process (configured by a real inkbridge.toml with a connection per
provider: webhook secrets as ``file:`` references, two of them holding two secrets, and the API
pointed at the emulator) and the six emulators (uvicorn threads in this process) are started once
for the module. Envelopes are created through ``POST /v1/envelopes``, hence through inkbridge's
real API clients; the emulators' test-control endpoints then drive the vendor side, and the
emulators deliver webhooks in each vendor's real format. The tests assert end states only: what
``GET /v1/envelopes/{id}`` shows, what the SQLite file holds, what the emulators counted and
what inkbridge answered on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.acceptance.provider_stack import ProviderStack, iter_stack
from tests.acceptance.provider_traffic import (
    Delivery,
    copy_of,
    forged_decline,
    resigned,
    tampered_copies,
)
from tests.acceptance.provider_vendors import (
    ACROBAT_CLIENT_ID,
    DOCUSEAL_KEYS,
    DOCUSIGN_CONNECT_KEYS,
    DROPBOX_OPENAPI,
    HAVE_VENDOR_SCHEMAS,
    PROVIDERS,
    TEMPLATE_IDS,
    VENDOR,
)
from tests.acceptance.stack import wait_for

pytestmark = pytest.mark.slow

# The normalized lifecycle table in shared/vendor/NOTES.md: PandaDoc has no expiry event.
NO_EVENT_FOR = {("pandadoc", "expire"): "NOTES.md lists no PandaDoc event for an expiry"}
TERMINAL_PATHS = {"decline": "declined", "void": "voided", "expire": "expired"}
# Acrobat Sign agreements are polled from the moment they exist (Acrobat disables failing
# webhooks, so inkbridge never waits for staleness) and then at most once a minute per agreement
# (AcrobatSignClient.min_poll_interval_seconds): the next, repairing poll would come a minute
# after the first, beyond this file's time budget.
ACROBAT_POLL_SKIP = (
    "Acrobat Sign agreements are polled right after creation and then at most once per 60 s, "
    "so the repairing poll would come a minute later (beyond this module's time budget)"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderStack]:
    yield from iter_stack(tmp_path_factory.mktemp("providers"))


def accepted_states(view: dict[str, Any]) -> list[str]:
    return [e["to_state"] for e in view["timeline"] if e["outcome"] == "accepted"]


def entry_of(view: dict[str, Any], receipt_id: int) -> dict[str, Any]:
    found = [e for e in view["timeline"] if e["receipt_id"] == receipt_id]
    assert found, f"no timeline entry for receipt {receipt_id}: {view['timeline']}"
    return dict(found[0])


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


# 4. The full lifecycle (first: the other tests reuse its envelopes).


@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_lifecycle_created_sent_viewed_signed_ends_completed(
    world: ProviderStack, provider: str
) -> None:
    view = world.completed(provider)

    assert view["state"] == "completed"
    assert view["conflicts"] == [] and not view["needs_reconcile"]
    states = accepted_states(view)
    assert states[:2] == ["sent", "viewed"] and states[-1] == "completed", states
    assert len(states) == len(set(states)) and set(states) <= {
        "sent",
        "viewed",
        "partially_signed",
        "completed",
    }
    event_types = {e["event_type"] for e in view["timeline"]}
    assert {
        "document_sent",
        "document_viewed",
        "recipient_signed",
        "document_completed",
    } <= event_types
    assert view["template_key"] == f"{provider}_nda" and view["template_version"] == 2
    assert {"sent_at", "first_viewed_at", "completed_at"} <= set(view["milestones"])

    def crm_record() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{world.base}/sandbox/crm/records/envelope:{view['id']}",
            headers={"Authorization": f"Bearer {world.token}"},
            timeout=10,
        )
        if answer.status_code != 200:
            return None
        props: dict[str, Any] = answer.json()["properties"]
        return props if props.get("inkbridge_status") == "completed" else None

    props = wait_for(crm_record, "the sandbox CRM record to show completed")
    assert props["first_touch_utm_campaign"] == "provider-acceptance"


# 1. Real-format deliveries, acknowledged as each vendor expects.


@pytest.mark.parametrize("provider", PROVIDERS)
def test_vendor_deliveries_are_accepted_and_acknowledged_as_the_vendor_expects(
    world: ProviderStack, provider: str
) -> None:
    view = world.completed(provider)
    world.settle(provider)
    counters = world.vendors[provider].emulator.emitter.counters
    deliveries = world.deliveries(provider, view["provider_envelope_id"])

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
    view = world.completed(provider)
    world.settle(provider)
    original = world.deliveries(provider, view["provider_envelope_id"])[-1]
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
    view = world.completed(provider)
    world.settle(provider)
    before = world.envelope(view["id"])
    deliveries = world.deliveries(provider, view["provider_envelope_id"])
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
    view = world.completed(provider)
    world.settle(provider)
    delivery = world.deliveries(provider, view["provider_envelope_id"])[0]

    # The emulator signs with the current secret only; inkbridge accepted all of those.
    assert all(d.status == 200 for d in world.deliveries(provider, view["provider_envelope_id"]))
    by_retiring = world.send(resigned(delivery, retiring))
    assert by_retiring.status_code == 200, by_retiring.text
    assert by_retiring.headers["x-inkbridge-duplicate"] == "true"
    by_current = world.send(resigned(delivery, current))
    assert by_current.status_code == 200
    unknown = world.send(resigned(delivery, "whsec_never_configured_anywhere"))
    assert unknown.status_code == 401


# 4. The declined, voided and expired paths.


@pytest.mark.parametrize("action", sorted(TERMINAL_PATHS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_terminal_paths_end_in_the_right_state(
    world: ProviderStack, provider: str, action: str
) -> None:
    if (provider, action) in NO_EVENT_FOR:
        pytest.skip(NO_EVENT_FOR[(provider, action)])
    view = world.create_envelope(provider)
    world.wait_envelope(view["id"], lambda v: v["state"] == "sent", "state 'sent'")

    world.act(provider, view["provider_envelope_id"], action)
    final = world.wait_state(view["id"], TERMINAL_PATHS[action])

    assert accepted_states(final)[0] == "sent"
    assert accepted_states(final)[-1] == TERMINAL_PATHS[action]
    assert final["conflicts"] == []
    assert f"{TERMINAL_PATHS[action]}_at" in final["milestones"]


# 5. Dropbox Sign: a terminal webhook is held until the API confirms it.


def test_dropbox_sign_terminal_webhook_is_held_until_the_api_confirms_it(
    world: ProviderStack,
) -> None:
    view = world.completed("dropbox_sign")
    sources = world.receipt_sources(view["correlation_id"])
    timeline = view["timeline"]

    held = [e for e in timeline if e["vendor_event"] == "signature_request_all_signed"]
    held = [e for e in held if sources[e["receipt_id"]] == "webhook"]
    assert held and all(e["outcome"] == "unconfirmed" for e in held), held
    assert all(e["to_state"] != "completed" for e in held)
    completing = [
        e for e in timeline if e["to_state"] == "completed" and e["outcome"] == "accepted"
    ]
    assert len(completing) == 1
    assert sources[completing[0]["receipt_id"]] == "reconcile"
    assert completing[0]["seq"] > held[0]["seq"]
    # The same holds for a decline: only the API's word moves the state.
    declined = world.create_envelope("dropbox_sign")
    world.wait_envelope(declined["id"], lambda v: v["state"] == "sent", "state 'sent'")
    world.act("dropbox_sign", declined["provider_envelope_id"], "decline")
    final = world.wait_state(declined["id"], "declined")
    final_sources = world.receipt_sources(final["correlation_id"])
    decline_entries = [e for e in final["timeline"] if e["event_type"] == "document_declined"]
    assert any(
        e["outcome"] == "unconfirmed" and final_sources[e["receipt_id"]] == "webhook"
        for e in decline_entries
    )
    moved = [e for e in decline_entries if e["outcome"] == "accepted"]
    assert len(moved) == 1 and final_sources[moved[0]["receipt_id"]] == "reconcile"


# 6. Reconciliation: lost completions and terminal conflicts.


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reconciliation_repairs_an_envelope_whose_completion_webhooks_were_lost(
    world: ProviderStack, provider: str
) -> None:
    if provider == "acrobat_sign":
        pytest.skip(ACROBAT_POLL_SKIP)
    view = world.create_envelope(provider)
    ref = view["provider_envelope_id"]
    world.wait_envelope(view["id"], lambda v: v["state"] == "sent", "state 'sent'")
    world.settle(provider)
    emitter = world.vendors[provider].emulator.emitter
    dropped_before = emitter.counters.dropped
    delivered_before = len(world.deliveries(provider, ref))

    emitter.chaos.drop_rate = 1.0  # every webhook the signature causes is lost
    try:
        world.act(provider, ref, "sign")
    finally:
        emitter.chaos.drop_rate = 0.0
    assert emitter.counters.dropped > dropped_before
    assert world.envelope(view["id"])["state"] == "sent"

    # Quiet for stale_after_seconds, the envelope is polled (for DocuSign: its first poll,
    # which the 15-minute rule allows) and the provider's status completes it.
    final = world.wait_state(view["id"], "completed", timeout=30)
    sources = world.receipt_sources(final["correlation_id"])
    completing = [e for e in final["timeline"] if e["to_state"] == "completed"]
    assert completing and sources[completing[0]["receipt_id"]] == "reconcile"
    assert len(world.deliveries(provider, ref)) == delivered_before  # no webhook came


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_declined_claim_for_a_completed_envelope_is_resolved_for_the_provider(
    world: ProviderStack, provider: str
) -> None:
    """The provider completed the envelope; afterwards a correctly signed "declined" webhook
    arrives. inkbridge records the conflict, asks the provider, and keeps completed."""
    if provider == "acrobat_sign":
        pytest.skip(ACROBAT_POLL_SKIP)
    view = world.create_envelope(provider)
    ref = view["provider_envelope_id"]
    world.wait_envelope(view["id"], lambda v: v["state"] == "sent", "state 'sent'")
    world.act(provider, ref, "sign")
    world.wait_state(view["id"], "completed")
    world.settle(provider)
    shape = _shape_for_forgery(world.deliveries(provider, ref))

    claim = world.send(forged_decline(shape))
    assert claim.status_code == 200, claim.text
    receipt = int(claim.headers["x-inkbridge-receipt"])

    def resolved(v: dict[str, Any]) -> bool:
        entries = [e for e in v["timeline"] if e["receipt_id"] == receipt]
        if not entries or v["needs_reconcile"]:
            return False
        sources = world.receipt_sources(v["correlation_id"])
        later = [e for e in v["timeline"] if e["seq"] > entries[0]["seq"]]
        return any(sources.get(e["receipt_id"]) == "reconcile" for e in later)

    final = world.wait_envelope(view["id"], resolved, "the conflict to be reconciled")
    claim_entry = entry_of(final, receipt)
    assert claim_entry["event_type"] == "document_declined"
    assert claim_entry["outcome"] == "conflict"
    assert final["state"] == "completed"
    assert final["conflicts"] == []
    assert "declined" not in accepted_states(final)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_terminal_state_from_a_forged_claim_is_overruled_by_the_provider(
    world: ProviderStack, provider: str
) -> None:
    """A correctly signed "declined" webhook arrives first; then the provider completes the
    envelope. The provider's status wins: the envelope ends completed. (Dropbox Sign never
    acts on the claim at all: its terminal webhooks wait for the API's confirmation.)"""
    if provider == "acrobat_sign":
        pytest.skip(ACROBAT_POLL_SKIP)
    view = world.create_envelope(provider)
    ref = view["provider_envelope_id"]
    world.wait_envelope(view["id"], lambda v: v["state"] == "sent", "state 'sent'")
    world.settle(provider)
    shape = _shape_for_forgery(world.deliveries(provider, ref))

    claim = world.send(forged_decline(shape))
    assert claim.status_code == 200, claim.text
    receipt = int(claim.headers["x-inkbridge-receipt"])
    if provider == "dropbox_sign":
        held = world.wait_envelope(
            view["id"], lambda v: any(e["receipt_id"] == receipt for e in v["timeline"]), "claim"
        )
        assert entry_of(held, receipt)["outcome"] == "unconfirmed"
    else:
        world.wait_envelope(view["id"], lambda v: v["state"] == "declined", "state 'declined'")

    world.act(provider, ref, "sign")
    final = world.wait_state(view["id"], "completed")

    sources = world.receipt_sources(final["correlation_id"])
    completing = [e for e in final["timeline"] if e["to_state"] == "completed"]
    completing = [e for e in completing if e["outcome"] == "accepted"]
    assert len(completing) == 1 and sources[completing[0]["receipt_id"]] == "reconcile"
    assert final["conflicts"] == []
    if provider == "dropbox_sign":
        assert "declined" not in accepted_states(final)
    else:
        assert entry_of(final, receipt)["to_state"] == "declined"
        assert accepted_states(final)[-2:] == ["declined", "completed"]
        conflicts = [e for e in final["timeline"] if e["outcome"] == "conflict"]
        assert any(e["event_type"] == "document_completed" for e in conflicts), conflicts


def _shape_for_forgery(deliveries: list[Delivery]) -> Delivery:
    """A real delivery of the envelope to take a forgery's shape and ids from (DocuSeal's
    form.declined is built from the submission a submission.* webhook carries)."""
    if deliveries and deliveries[0].provider == "docuseal":
        deliveries = [d for d in deliveries if (d.event or "").startswith("submission.")]
    assert deliveries, "no delivery of this envelope was recorded"
    return deliveries[0]


# The vendors' published schemas checked inkbridge's real requests.


@pytest.mark.parametrize("provider", ["docusign", "dropbox_sign"])
def test_real_client_requests_passed_the_vendors_published_schemas(
    world: ProviderStack, provider: str
) -> None:
    if not HAVE_VENDOR_SCHEMAS:
        pytest.skip(f"vendor schemas not found under {VENDOR}: emulators ran without them")
    view = world.completed(provider)
    emulator = world.vendors[provider].emulator
    ref = view["provider_envelope_id"]
    if provider == "docusign":
        validator = emulator.validators["envelopeDefinition"]
        definition = emulator.envelopes[ref].definition
        assert definition["templateId"] == TEMPLATE_IDS["docusign"]
        fields = {f["name"]: f["value"] for f in definition["customFields"]["textCustomFields"]}
        assert fields["inkbridge_envelope_id"] == view["id"]
        connect = emulator.validators["connect"]
        assert all(connect.problems(message) == [] for message in emulator.messages)
    else:
        validator = emulator.validators["create_embedded_with_template"]
        definition = emulator.requests[ref].definition
        assert definition["template_ids"] == [TEMPLATE_IDS["dropbox_sign"]]
        assert definition["metadata"]["inkbridge_envelope_id"] == view["id"]
        assert DROPBOX_OPENAPI.is_file()
        callback = emulator.validators["callback"]
        assert all(callback.problems(message) == [] for message in emulator.messages)
    # The body inkbridge sent is valid, and the validator is strict enough to matter.
    assert validator.problems(definition) == []
    assert validator.problems({**definition, "misspelled_field": "x"}) != []


def test_no_emulator_gave_up_on_a_delivery(world: ProviderStack) -> None:
    for provider in PROVIDERS:
        world.settle(provider)
        counters = world.vendors[provider].emulator.emitter.counters
        assert counters.delivered > 0, provider
        assert counters.gave_up == 0, (provider, counters)
