"""A destination's quota left, as the vendor's last answer reported it, is published as a gauge
by the throttled transport of that destination."""

from __future__ import annotations

import httpx

from inkbridge.connectors.throttle import ThrottledTransport, bucket_for
from inkbridge.metrics import REGISTRY


def _client(destination: str, headers: dict[str, str]) -> httpx.AsyncClient:
    inner = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers))
    transport = ThrottledTransport(inner, bucket_for(100, 10), destination=destination)
    return httpx.AsyncClient(transport=transport, base_url="http://vendor")


def _quota(destination: str) -> float | None:
    return REGISTRY.get_sample_value(
        "inkbridge_destination_quota_remaining", {"destination": destination}
    )


async def test_the_remaining_quota_a_vendor_reports_is_published() -> None:
    async with _client("quota_hubspot", {"x-hubspot-ratelimit-remaining": "87"}) as client:
        await client.get("/crm")
    assert _quota("quota_hubspot") == 87
    async with _client("quota_common", {"x-ratelimit-remaining": "3"}) as client:
        await client.get("/crm")
    assert _quota("quota_common") == 3


async def test_an_answer_without_quota_headers_publishes_nothing() -> None:
    async with _client("quota_unknown", {}) as client:
        await client.get("/crm")
    assert _quota("quota_unknown") is None
