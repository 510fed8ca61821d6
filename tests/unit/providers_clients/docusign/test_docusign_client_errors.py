"""DocuSignClient's JWT grant and token caching against the emulator, and the classification
of DocuSign's errors over httpx.MockTransport."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.providers.base import SigningRequest
from inkbridge.providers.docusign.client import DocuSignClient
from tests.support.keys import rsa_pem

from .support import ADA, Rig, make_client, spec


async def test_the_access_token_is_reused_until_shortly_before_it_expires(rig: Rig) -> None:
    now = [time.time()]  # one clock for the client and the emulator, moved by hand
    rig.emulator.clock = lambda: datetime.fromtimestamp(now[0], tz=UTC)
    client = make_client(rig.http, clock=lambda: now[0])

    created = await client.create_envelope(spec())
    now[0] += 3000
    await client.fetch_status(created.provider_envelope_id)
    exchanges_within_the_hour = client.auth.exchanges
    now[0] += 350  # past expires_in minus the refresh margin
    await client.fetch_status(created.provider_envelope_id)

    assert exchanges_within_the_hour == 1
    assert client.auth.exchanges == 2
    assert rig.emulator.tokens_issued == 2


async def test_a_refused_token_is_replaced_once_and_the_call_succeeds(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    rig.emulator.revoke_tokens()

    history = await rig.client.fetch_status(created.provider_envelope_id)

    assert history[0].type is EventType.DOCUMENT_SENT
    assert rig.emulator.tokens_issued == 2


async def test_an_assertion_signed_with_another_key_is_refused_for_good(rig: Rig) -> None:
    other_private, _ = rsa_pem()
    client = make_client(rig.http, private_key_pem=other_private)

    with pytest.raises(PermanentError) as refused:
        await client.create_envelope(spec())

    assert "invalid_grant" in str(refused.value)
    assert rig.emulator.envelopes == {}


def test_a_key_that_is_not_an_rsa_pem_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        make_client(httpx.AsyncClient(), private_key_pem="not a key")


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> DocuSignClient:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t0k3n", "expires_in": 3600})
        return handler(request)

    return make_client(httpx.AsyncClient(transport=httpx.MockTransport(route)))


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (httpx.Response(429, headers={"Retry-After": "7"}), 7.0),
        (httpx.Response(503), None),
        (httpx.Response(500, text="<html>oops</html>"), None),
        (httpx.Response(408), None),
    ],
)
async def test_limits_and_outages_are_retryable(
    answer: httpx.Response, retry_after: float | None
) -> None:
    client = mock_client(lambda _: answer)

    with pytest.raises(RetryableError) as failed:
        await client.fetch_status("env-x")

    assert failed.value.retry_after == retry_after


async def test_the_hourly_limit_answered_as_400_is_retryable_until_the_reset() -> None:
    reset = int(time.time()) + 120
    answer = httpx.Response(
        400,
        json={"errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED", "message": "limit"},
        headers={"X-RateLimit-Reset": str(reset)},
    )
    client = mock_client(lambda _: answer)

    with pytest.raises(RetryableError) as failed:
        await client.fetch_status("env-x")

    assert failed.value.retry_after is not None and 100 < failed.value.retry_after <= 120


async def test_a_refused_request_is_permanent_and_its_reason_quotes_no_personal_data() -> None:
    answer = httpx.Response(
        400,
        json={"errorCode": "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT", "message": "ada@example.test"},
    )
    client = mock_client(lambda _: answer)

    with pytest.raises(PermanentError) as failed:
        await client.create_envelope(spec())

    assert "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT" in str(failed.value)
    assert "ada@" not in str(failed.value)


async def test_a_timeout_is_retryable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RetryableError):
        await mock_client(hang).fetch_status("env-x")


async def test_a_second_401_in_a_row_is_permanent_after_exactly_one_refresh() -> None:
    calls: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": f"t{len(calls)}", "expires_in": 3600})
        return httpx.Response(401, json={"errorCode": "USER_AUTHENTICATION_FAILED"})

    client = make_client(httpx.AsyncClient(transport=httpx.MockTransport(route)))
    with pytest.raises(PermanentError):
        await client.fetch_status("env-x")

    assert [p.endswith("/oauth/token") for p in calls] == [True, False, True, False]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"error": "consent_required"}), PermanentError),
        (httpx.Response(400, json={"error": "invalid_grant"}), PermanentError),
        (httpx.Response(503), RetryableError),
        (httpx.Response(200, json={"token_type": "Bearer"}), PermanentError),
    ],
)
async def test_token_exchange_failures_are_classified(
    answer: httpx.Response, error: type[Exception]
) -> None:
    client = make_client(httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer)))

    with pytest.raises(error):
        await client.fetch_status("env-x")


async def test_without_any_return_url_a_signing_url_is_refused_before_calling_docusign() -> None:
    client = make_client(
        httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(500))),
        default_return_url=None,
    )

    with pytest.raises(PermanentError):
        await client.signing_url(SigningRequest("env-x", ADA))
