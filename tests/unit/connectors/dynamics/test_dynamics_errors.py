"""Dataverse's errors and service protection limits: what the Dynamics 365 connector fails,
retries or reports."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.connectors.dynamics.connector import DynamicsOptions
from inkbridge.errors import RetryableError
from inkbridge_emulators.dynamics import DynamicsEmulator

from ..payloads import envelope_change, lead, lead_change, task_change
from .support import ENVELOPES, OPTIONS, connector


async def test_a_refused_change_set_fails_alone_and_is_rolled_back(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    long_name = lead("lead_2", "b@example.test", first_name="A" * 60)
    changes = [
        envelope_change(1, envelope_id="env_1"),
        envelope_change(2, envelope_id="env_2", person=long_name),
        lead_change(3, lead("lead_3", "c@example.test")),
    ]

    result = await connector(client).apply(changes)

    assert [r.ok for r in result.results] == [True, False, True]
    assert result.results[1].retryable is False
    assert "0x80044331" in (result.results[1].error or "")
    envelopes = [r["inkbridge_envelopeid"] for r in dyn.dataverse.records(ENVELOPES)]
    assert envelopes == ["env_1"]  # env_2 shared the failed change set: rolled back


async def test_an_unknown_table_fails_its_changes_and_not_the_others(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    options = DynamicsOptions(owners=OPTIONS.owners, envelope_entity_set="missing_envelopes")

    result = await connector(client, options).apply(
        [envelope_change(1), lead_change(2, lead("lead_2", "b@example.test"))]
    )

    assert result.results[0].ok is False and result.results[0].retryable is False
    assert result.results[1].ok


async def test_service_protection_429_is_retryable_with_its_retry_after(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dyn.window.set_limit(1)

    with pytest.raises(RetryableError) as caught:
        await connector(client).apply([lead_change(1)])

    assert "0x80072322" in caught.value.reason
    assert caught.value.retry_after is not None and 290 <= caught.value.retry_after <= 300


async def test_burst_remaining_is_exposed_in_meta(client: httpx.AsyncClient) -> None:
    result = await connector(client).apply([task_change(1)])

    assert result.meta["requests"] == 2  # the contact's first touch, then the $batch
    assert result.meta["burst_remaining"] == 5998
