"""The per-request throttle never lets a rolling window exceed the vendor's limit."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from inkbridge.connectors.throttle import ThrottledTransport, bucket_for


def test_no_rolling_window_exceeds_the_limit() -> None:
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return httpx.Response(200)

    transport = ThrottledTransport(httpx.MockTransport(answer), bucket_for(20, 1.0))

    async def burst() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await asyncio.gather(*(client.get("http://crm/x") for _ in range(50)))

    asyncio.run(burst())
    assert len(stamps) == 50
    worst = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert worst <= 20


@pytest.mark.parametrize(
    ("status", "pause"),
    [
        pytest.param(429, {"Retry-After": "0.3"}, id="a-429-pauses-later-requests-for-retry-after"),
        pytest.param(
            200,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.3"},
            id="a-spent-vendor-window-pauses-before-a-429",
        ),
    ],
)
def test_the_vendor_asking_for_a_pause_delays_the_next_request(
    status: int, pause: dict[str, str]
) -> None:
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx.Response(status, headers=pause)
        return httpx.Response(200)

    transport = ThrottledTransport(httpx.MockTransport(answer), bucket_for(100, 1.0))

    async def two() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://crm/x")
            await client.get("http://crm/x")

    asyncio.run(two())
    assert stamps[1] - stamps[0] >= 0.29
