"""Marketo's limits and error codes (606, 607, 615, 601/602, 1003, 1006): what the connector
retries, refreshes, serialises or fails."""

from __future__ import annotations

import asyncio
import zlib

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.connectors.marketo.connector import LOCK_STRIPES
from inkbridge.errors import PermanentError, RetryableError
from inkbridge_emulators.marketo import MarketoLimits, create_marketo_app

from ..marketing_payloads import asgi_client, consent_change, envelope_change, lead, lead_change
from .support import BASE, connector, emulator_of


async def test_parallel_applies_for_one_lead_are_serialised() -> None:
    app = create_marketo_app(write_delay=0.05)
    async with asgi_client(app, BASE) as client:
        marketo = connector(client)
        outcomes = await asyncio.gather(
            marketo.apply([envelope_change("sent")]),
            marketo.apply([consent_change("granted")]),
        )

    assert all(r.ok for outcome in outcomes for r in outcome.results)
    assert len(emulator_of(app).leads) == 1
    assert emulator_of(app).duplicates_created == 0


async def test_a_606_in_a_200_is_retryable_after_the_20_second_window(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_faults", json={"mode": "rate_limit", "count": 1})

    with pytest.raises(RetryableError) as caught:
        await connector(client).apply([lead_change()])

    assert caught.value.reason == "marketo error 606"
    assert caught.value.retry_after == 20


async def test_more_than_the_calls_per_window_answer_606() -> None:
    app = create_marketo_app(limits=MarketoLimits(calls_per_20s=2))  # read + upsert
    async with asgi_client(app, BASE) as client:
        marketo = connector(client)
        await marketo.apply([lead_change()])
        with pytest.raises(RetryableError) as caught:
            await marketo.apply([lead_change()])

    assert caught.value.retry_after == 20
    assert emulator_of(app).window.rejected_total == 1


async def test_a_spent_daily_quota_607_waits_long() -> None:
    app = create_marketo_app(limits=MarketoLimits(daily_quota=0))
    async with asgi_client(app, BASE) as client:
        with pytest.raises(RetryableError) as caught:
            await connector(client).apply([lead_change()])

    assert caught.value.reason == "marketo error 607"
    assert caught.value.retry_after is not None and caught.value.retry_after > 20


async def test_more_than_the_concurrent_calls_answer_615() -> None:
    app = create_marketo_app(limits=MarketoLimits(concurrent=1), write_delay=0.1)
    emails = _emails_in_different_lock_stripes(2)
    async with asgi_client(app, BASE) as client:
        marketo = connector(client)
        await marketo._api.access_token()
        outcomes = await asyncio.gather(
            *(marketo.apply([lead_change(lead_body=lead(f"lead_{e}", e))]) for e in emails),
            return_exceptions=True,
        )

    failures = [o for o in outcomes if isinstance(o, RetryableError)]
    assert len(failures) == 1
    assert failures[0].reason == "marketo error 615"
    assert failures[0].retry_after == 20


async def test_an_invalid_token_601_refreshes_the_token_and_retries_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client)
    await marketo.apply([lead_change()])
    await client.post("/_errors", json={"code": "601", "count": 1})

    result = await marketo.apply([consent_change("granted")])

    assert result.results[0].ok
    assert emulator_of(app).tokens_issued == 2


async def test_a_token_refused_twice_is_retryable(client: httpx.AsyncClient) -> None:
    await client.post("/_errors", json={"code": "601", "count": 2})

    with pytest.raises(RetryableError):
        await connector(client).apply([lead_change()])


async def test_other_response_codes_are_permanent(client: httpx.AsyncClient) -> None:
    await client.post("/_errors", json={"code": "1003", "count": 1})

    with pytest.raises(PermanentError) as caught:
        await connector(client).apply([lead_change()])

    assert caught.value.reason == "marketo error 1003"


async def test_a_skipped_record_1003_fails_only_its_change(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    bad = lead_change(lead_body=lead("lead_9", "not-an-email"))
    good = lead_change()

    result = await connector(client).apply([bad, good])

    failed, ok = result.results
    assert not failed.ok and not failed.retryable
    assert failed.error == "marketo skipped the lead (1003)"
    assert ok.ok
    assert len(emulator_of(app).leads) == 1


async def test_an_unknown_field_is_skipped_with_1006() -> None:
    app = create_marketo_app(custom_fields=frozenset({"inkbridgeLeadId"}))
    async with asgi_client(app, BASE) as client:
        result = await connector(client).apply([envelope_change("sent")])

    assert result.results[0].error == "marketo skipped the lead (1006)"


def _emails_in_different_lock_stripes(count: int) -> list[str]:
    emails: list[str] = []
    stripes: set[int] = set()
    for n in range(1000):
        email = f"person{n}@example.test"
        stripe = zlib.crc32(email.encode()) % LOCK_STRIPES
        if stripe not in stripes:
            stripes.add(stripe)
            emails.append(email)
        if len(emails) == count:
            return emails
    raise AssertionError("no emails found")
