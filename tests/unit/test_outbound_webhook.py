"""The outbound webhook connector against an in-process receiver that verifies every message
with the standardwebhooks package (a third-party implementation, not ours) and deduplicates on
webhook-id the way a careful receiver would."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.webhook.connector import OutboundWebhookConnector, message_id
from inkbridge.errors import ConfigError, PermanentError, RetryableError

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Receiver:
    """Verifies with ``standardwebhooks`` and stores each webhook-id once."""

    answers: list[Response] = field(default_factory=list)  # served first, then 200s
    received: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    invalid: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/hook", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        headers = dict(request.headers)
        self.requests.append(headers)
        if self.answers:
            return self.answers.pop(0)
        try:
            message = Webhook(SECRET).verify(await request.body(), headers)
        except WebhookVerificationError:
            self.invalid += 1
            return Response(status_code=401)
        self.received.setdefault(headers["webhook-id"], message)
        return JSONResponse({"ok": True})


@dataclass
class Harness:
    receiver: Receiver
    connector: OutboundWebhookConnector


@pytest.fixture
async def hook() -> AsyncIterator[Harness]:
    receiver = Receiver()
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport) as client:
        connector = OutboundWebhookConnector("zapier", "http://receiver/hook", SECRET, client)
        yield Harness(receiver, connector)


def change(outbox_id: int = 1, key: str = "envelope:env_1:state:completed") -> Change:
    return Change(
        outbox_id=outbox_id,
        record_key="envelope:env_1",
        kind="envelope.state_changed",
        idempotency_key=key,
        payload={"envelope": {"id": "env_1", "state": "completed"}, "correlation_id": "corr-1"},
        correlation_id="corr-1",
    )


async def test_a_change_arrives_signed_and_verifiable_by_the_standardwebhooks_library(
    hook: Harness,
) -> None:
    result = await hook.connector.apply([change()])

    assert [r.ok for r in result.results] == [True]
    assert hook.receiver.invalid == 0
    (message,) = hook.receiver.received.values()
    assert message["type"] == "envelope.state_changed"
    assert message["data"] == {
        "envelope": {"id": "env_1", "state": "completed"},
        "correlation_id": "corr-1",
    }
    assert "timestamp" in message


async def test_the_correlation_id_rides_in_its_own_header(hook: Harness) -> None:
    await hook.connector.apply([change()])

    assert hook.receiver.requests[0]["x-inkbridge-correlation-id"] == "corr-1"


async def test_a_retry_carries_the_same_webhook_id_so_the_receiver_keeps_one_copy(
    hook: Harness,
) -> None:
    hook.receiver.answers = [Response(status_code=503)]

    with pytest.raises(RetryableError):
        await hook.connector.apply([change()])
    await hook.connector.apply([change()])
    await hook.connector.apply([change()])  # a replay of the same fact

    ids = [r["webhook-id"] for r in hook.receiver.requests]
    assert len(ids) == 3
    assert len(set(ids)) == 1
    assert ids[0] == message_id("envelope:env_1:state:completed")
    assert len(hook.receiver.received) == 1


async def test_different_facts_get_different_webhook_ids(hook: Harness) -> None:
    await hook.connector.apply([change(1, "envelope:env_1:state:sent")])
    await hook.connector.apply([change(2, "envelope:env_1:state:completed")])

    assert len(hook.receiver.received) == 2


async def test_a_429_is_retryable_and_carries_retry_after(hook: Harness) -> None:
    hook.receiver.answers = [Response(status_code=429, headers={"Retry-After": "12"})]

    with pytest.raises(RetryableError) as caught:
        await hook.connector.apply([change()])

    assert caught.value.retry_after == 12.0
    assert hook.receiver.received == {}


async def test_a_retry_after_given_as_an_http_date_is_understood(hook: Harness) -> None:
    hook.receiver.answers = [
        Response(status_code=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    ]

    with pytest.raises(RetryableError) as caught:
        await hook.connector.apply([change()])

    assert caught.value.retry_after == 0.0  # a date in the past: retry now


@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_server_errors_are_retryable(hook: Harness, status: int) -> None:
    hook.receiver.answers = [Response(status_code=status)]

    with pytest.raises(RetryableError):
        await hook.connector.apply([change()])


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_client_errors_including_gone_are_permanent(hook: Harness, status: int) -> None:
    hook.receiver.answers = [Response(status_code=status)]

    with pytest.raises(PermanentError) as caught:
        await hook.connector.apply([change()])

    assert str(status) in caught.value.reason


async def test_a_timeout_is_retryable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
        connector = OutboundWebhookConnector("n8n", "http://receiver/hook", SECRET, client)
        with pytest.raises(RetryableError):
            await connector.apply([change()])


async def _batch_of_three(second: Response) -> tuple[BatchResult, Receiver]:
    """Three changes in one batch call; the receiver accepts the first and answers ``second``
    to the next."""
    receiver = Receiver(answers=[Response(status_code=200), second])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app)) as client:
        connector = OutboundWebhookConnector("n8n", "http://r/hook", SECRET, client, max_batch=3)
        result = await connector.apply([change(1, "a"), change(2, "b"), change(3, "c")])
    return result, receiver


async def test_in_a_bigger_batch_a_permanent_failure_fails_only_its_change() -> None:
    result, _ = await _batch_of_three(Response(status_code=410))

    assert [(r.ok, r.retryable) for r in result.results] == [
        (True, False),
        (False, False),
        (True, False),
    ]


async def test_in_a_bigger_batch_a_retryable_failure_holds_back_the_rest() -> None:
    result, receiver = await _batch_of_three(
        Response(status_code=429, headers={"Retry-After": "5"})
    )

    assert [(r.ok, r.retryable) for r in result.results] == [
        (True, False),
        (False, True),
        (False, True),
    ]
    assert result.retry_after == 5.0
    assert len(receiver.requests) == 2


async def test_a_secret_that_is_not_whsec_base64_is_a_config_error() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError) as caught:
            OutboundWebhookConnector("zapier", "http://r/hook", "whsec_not base64!", client)

    assert "not base64" not in str(caught.value)  # the secret never appears in errors
