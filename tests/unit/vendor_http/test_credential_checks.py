"""``inkbridge doctor``'s harmless authenticated read, at the ``httpx.MockTransport`` seam: each
answer classified (accepted, refused, failed), the call named by its path alone, the vendor's
``Date`` kept for the clock check, and a provider endpoint's credential headers sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from inkbridge.vendor_http.credentials import Verdict, authenticated_get
from inkbridge.vendor_http.endpoint import VendorEndpoint

URL = "https://vendor.test/api/v1/me"


def answering(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request] | None = None
) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


async def test_a_2xx_is_accepted_with_the_vendor_s_date() -> None:
    date = "Tue, 03 Dec 2024 18:16:00 GMT"
    async with answering(lambda _: httpx.Response(200, json={}, headers={"Date": date})) as http:
        result = await authenticated_get(http, "vendor", URL)

    assert result.verdict is Verdict.ACCEPTED
    assert result.detail == "GET /api/v1/me: 200"
    assert result.server_date == datetime(2024, 12, 3, 18, 16, tzinfo=UTC)


async def test_a_403_is_refused_with_the_vendor_s_short_code_never_its_message() -> None:
    body = {"errorCode": "PARTNER_AUTHENTICATION_FAILED", "message": "key abc123 is not valid"}
    async with answering(lambda _: httpx.Response(403, json=body)) as http:
        result = await authenticated_get(http, "vendor", URL, code_keys=("errorCode",))

    assert result.verdict is Verdict.REFUSED
    assert result.detail == (
        "GET /api/v1/me: credentials refused, 403 (PARTNER_AUTHENTICATION_FAILED)"
    )


async def test_a_server_error_fails_without_saying_the_credentials_are_wrong() -> None:
    async with answering(lambda _: httpx.Response(503)) as http:
        result = await authenticated_get(http, "vendor", URL)

    assert result.verdict is Verdict.FAILED
    assert result.detail == "GET /api/v1/me: vendor answered 503"


async def test_an_unreachable_vendor_fails_as_not_reached() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with answering(refuse) as http:
        result = await authenticated_get(http, "vendor", URL)

    assert result.verdict is Verdict.FAILED
    assert "credentials refused" not in result.detail


async def test_the_call_is_named_by_its_path_never_its_query() -> None:
    async with answering(lambda _: httpx.Response(401)) as http:
        result = await authenticated_get(http, "vendor", URL + "?api_key=sk_live_secret")

    assert result.detail == "GET /api/v1/me: credentials refused, 401"


async def test_an_endpoint_check_sends_its_credential_headers_and_params() -> None:
    seen: list[httpx.Request] = []
    async with answering(lambda _: httpx.Response(200, json={}), seen) as http:
        endpoint = VendorEndpoint(
            http, "vendor", "https://vendor.test/public/v1", {"Authorization": "API-Key k-1"}
        )
        result = await endpoint.check_get("/templates", {"limit": "1"})

    assert result.detail == "GET /public/v1/templates: 200"
    [request] = seen
    assert request.headers["authorization"] == "API-Key k-1"
    assert request.url.params["limit"] == "1"


async def test_an_answer_records_when_it_arrived_for_the_clock_check() -> None:
    before = datetime.now(UTC)
    async with answering(lambda _: httpx.Response(401)) as http:
        result = await authenticated_get(http, "vendor", URL)

    assert result.received_at is not None
    assert before <= result.received_at <= datetime.now(UTC)
