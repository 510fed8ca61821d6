"""The HubSpot connector turns consent into subscription statuses and journeys into list
memberships; against the HubSpot emulator."""

from __future__ import annotations

import httpx

from inkbridge.connectors.hubspot.plan import HubSpotOptions
from inkbridge_emulators.hubspot import HubSpotEmulator

from ..payloads import consent_change, envelope_change, journey_change, suppress_change
from .support import OPTIONS, connector


async def test_consent_becomes_subscription_statuses_with_a_legal_basis_on_subscribe(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(client)

    granted = await hubspot.apply([consent_change(1, {"marketing_email": "granted"})])
    (status,) = hub.crm.statuses()
    withdrawn = await hubspot.apply([consent_change(2, {"marketing_email": "withdrawn"})])

    assert granted.results[0].ok and withdrawn.results[0].ok
    assert status["status"] == "SUBSCRIBED"
    assert status["channel"] == "EMAIL"
    assert status["legalBasis"] == "CONSENT_WITH_NOTICE"
    (latest,) = hub.crm.statuses()
    assert latest["status"] == "UNSUBSCRIBED"
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None and contact["inkbridge_marketing_allowed"] == "false"


async def test_denied_consent_unsubscribes_and_unmapped_kinds_are_not_sent(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [consent_change(1, {"marketing_email": "denied", "profiling": "granted"})]
    )

    assert result.results[0].ok
    assert [s["status"] for s in hub.crm.statuses()] == ["UNSUBSCRIBED"]


async def test_a_subscription_hubspot_refuses_fails_only_that_change(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    options = HubSpotOptions(owners=OPTIONS.owners, subscriptions={"marketing_email": 424242})

    result = await connector(client, options).apply(
        [consent_change(1, {"marketing_email": "granted"}), envelope_change(2, "sent")]
    )

    assert result.results[0].ok is False
    assert result.results[0].retryable is False
    assert result.results[1].ok


async def test_journeys_join_the_mapped_list_and_unmapped_ones_are_ignored(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [journey_change(1, "onboarding"), journey_change(2, "nurture"), suppress_change(3)]
    )

    assert [r.ok for r in result.results] == [True, True, True]
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None
    assert hub.crm.list_members() == {
        "77": [contact["hs_object_id"]],
        "99": [contact["hs_object_id"]],
    }


async def test_journeys_are_ignored_without_a_lists_option(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client, HubSpotOptions()).apply(
        [journey_change(1), suppress_change(2)]
    )

    assert [r.ok for r in result.results] == [True, True]
    assert hub.state()["requests"]["requests_total"] == 0
