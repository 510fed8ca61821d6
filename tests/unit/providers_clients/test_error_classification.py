"""How the Acrobat Sign, Documenso, DocuSeal and PandaDoc clients classify vendor failures at
their boundary, over httpx.MockTransport: throttling and server errors are retryable and carry
``Retry-After``, other client errors are permanent, timeouts are retryable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import httpx
import pytest

from inkbridge.errors import PermanentError, RetryableError
from inkbridge.providers.acrobat_sign.client import AcrobatSignClient
from inkbridge.providers.base import Signer, SigningRequest
from inkbridge.providers.documenso.client import DocumensoClient
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge.providers.pandadoc.client import PandaDocClient


@dataclass(frozen=True)
class Vendor:
    """One client under test: the call it makes, the statuses it retries and refuses, the
    vendor's error body, and the credential header every request must carry."""

    name: str
    fetch_status: Callable[[httpx.AsyncClient], Awaitable[object]]
    retryable: tuple[int, ...]
    permanent: tuple[int, ...]
    error_body: dict[str, str]
    credential: tuple[str, str] | None = None
    # Paths answered 200 with this body (the token endpoint of an OAuth client).
    ok: dict[str, dict[str, object]] = field(default_factory=dict)

    def client(self, status: int, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path in self.ok:
                return httpx.Response(200, json=self.ok[request.url.path])
            if self.credential is not None:
                name, value = self.credential
                assert request.headers[name] == value
            return httpx.Response(status, headers=headers, json=self.error_body)

        return httpx.AsyncClient(transport=httpx.MockTransport(answer))


VENDORS = [
    Vendor(
        "acrobat_sign",
        lambda http: AcrobatSignClient("http://acrobat", "c", "s", "r", http).fetch_status("a1"),
        retryable=(429, 500, 502, 503),
        permanent=(400, 403, 404),
        error_body={"code": "INVALID_AGREEMENT_ID"},
        ok={"/oauth/v2/refresh": {"access_token": "t", "expires_in": 3600}},
    ),
    Vendor(
        "documenso",
        lambda http: DocumensoClient("http://d", "t", http).fetch_status("envelope_1"),
        retryable=(429, 500, 503),
        permanent=(400, 401, 404),
        error_body={"message": "m", "code": "X"},
        credential=("authorization", "t"),
    ),
    Vendor(
        "docuseal",
        lambda http: DocuSealClient("http://d", "t", http).fetch_status("1"),
        retryable=(429, 500, 502),
        permanent=(400, 401, 404, 422),
        error_body={"error": "nope"},
        credential=("x-auth-token", "t"),
    ),
    Vendor(
        "pandadoc",
        lambda http: PandaDocClient(api_key="k", client=http).fetch_status("d1"),
        retryable=(429, 500, 503),
        permanent=(400, 401, 403, 404),
        error_body={"type": "x", "detail": "y"},
        credential=("authorization", "API-Key k"),
    ),
]


def cases(statuses: Callable[[Vendor], tuple[int, ...]]) -> list[object]:
    return [
        pytest.param(vendor, status, id=f"{vendor.name}-{status}")
        for vendor in VENDORS
        for status in statuses(vendor)
    ]


@pytest.mark.parametrize(("vendor", "status"), cases(lambda v: v.retryable))
async def test_throttling_and_server_errors_are_retryable_with_retry_after(
    vendor: Vendor, status: int
) -> None:
    async with vendor.client(status, {"Retry-After": "7"}) as http:
        with pytest.raises(RetryableError) as raised:
            await vendor.fetch_status(http)
    assert raised.value.retry_after == 7.0


@pytest.mark.parametrize(("vendor", "status"), cases(lambda v: v.permanent))
async def test_other_client_errors_are_permanent(vendor: Vendor, status: int) -> None:
    async with vendor.client(status) as http:
        with pytest.raises(PermanentError):
            await vendor.fetch_status(http)


@pytest.mark.parametrize(
    "timeout", [httpx.ReadTimeout, httpx.ConnectTimeout], ids=["read", "connect"]
)
@pytest.mark.parametrize("vendor", VENDORS, ids=[v.name for v in VENDORS])
async def test_timeouts_are_retryable(
    vendor: Vendor, timeout: type[httpx.TimeoutException]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise timeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(RetryableError):
            await vendor.fetch_status(http)


async def test_an_acrobat_signing_url_not_ready_yet_is_retryable() -> None:
    acrobat = replace(VENDORS[0], error_body={"code": "AGREEMENT_NOT_EXPOSED"})
    async with acrobat.client(404) as http:
        client = AcrobatSignClient("http://acrobat", "c", "s", "r", http)
        with pytest.raises(RetryableError):
            await client.signing_url(
                SigningRequest("a1", Signer(email="ada@example.test", name="Ada"))
            )
