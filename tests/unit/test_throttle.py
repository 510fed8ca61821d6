"""The per-request throttle never lets a rolling window exceed the vendor's limit."""

from __future__ import annotations

import asyncio
import time

import httpx

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


def test_a_429_pauses_later_requests_for_retry_after() -> None:
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"})
        return httpx.Response(200)

    transport = ThrottledTransport(httpx.MockTransport(answer), bucket_for(100, 1.0))

    async def two() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://crm/x")
            await client.get("http://crm/x")

    asyncio.run(two())
    assert stamps[1] - stamps[0] >= 0.29


def test_a_spent_vendor_window_pauses_before_a_429() -> None:
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        headers = (
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.3"} if len(stamps) == 1 else {}
        )
        return httpx.Response(200, headers=headers)

    transport = ThrottledTransport(httpx.MockTransport(answer), bucket_for(100, 1.0))

    async def two() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://crm/x")
            await client.get("http://crm/x")

    asyncio.run(two())
    assert stamps[1] - stamps[0] >= 0.29
