"""Injected emulator faults and what a connector must make of them: every fault an emulator's
``/_faults`` endpoint injects, and a timeout, is retryable; a 429 carries its Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.errors import RetryableError
from tests.unit.connectors.payloads import TimeoutOn

Apply = Callable[[], Awaitable[object]]

RATE_LIMIT = pytest.param(
    {"mode": "rate_limit", "count": 1, "retry_after": 7}, id="an-injected-429-honours-retry-after"
)
ERROR_500 = pytest.param({"mode": "error500", "count": 1}, id="a-server-error-is-retryable")
DOWN = pytest.param({"mode": "down", "count": 1}, id="a-vendor-down-is-retryable")


async def assert_fault_is_retryable(
    client: httpx.AsyncClient, fault: dict[str, Any], apply: Apply
) -> None:
    """Inject ``fault`` at the emulator, then ``apply`` must fail retryably (after the wait a
    429 asked for)."""
    await client.post("/_faults", json=fault)

    with pytest.raises(RetryableError) as caught:
        await apply()

    if "retry_after" in fault:
        assert caught.value.retry_after == float(fault["retry_after"])


async def assert_timeout_is_retryable(
    app: Starlette, base_url: str, path: str, apply: Callable[[httpx.AsyncClient], Apply]
) -> None:
    """A read timeout on requests to ``path`` makes ``apply`` fail retryably, naming it."""
    async with httpx.AsyncClient(transport=TimeoutOn(app, path), base_url=base_url) as http:
        with pytest.raises(RetryableError) as caught:
            await apply(http)()

    assert "ReadTimeout" in caught.value.reason
