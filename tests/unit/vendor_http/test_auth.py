"""Bearer-token ``httpx.Auth`` classes, tested at the ``httpx.MockTransport`` seam against a
small fake vendor: one token endpoint and one API endpoint that accepts only current tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.vendor_http.auth import (
    JWT_BEARER_GRANT,
    BearerAuth,
    ClientCredentialsAuth,
    JwtBearerAuth,
    RefreshTokenAuth,
    StaticBearer,
)
from inkbridge.vendor_http.responses import raise_for_status

TOKEN_URL = "https://vendor.test/oauth/token"
API_URL = "https://vendor.test/api/things"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@dataclass
class FakeVendor:
    """Issues ``token-<n>`` and accepts only tokens it has not revoked."""

    token_delay: float = 0.0
    api_always_refuses: bool = False
    rotate_refresh_token: bool = False
    token_status: int = 200
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    forms: list[dict[str, str]] = field(default_factory=list)
    api_calls: list[str | None] = field(default_factory=list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.forms.append(form)
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            if self.token_status != 200:
                body = {"error": "invalid_grant", "error_description": "jane@example.com"}
                return httpx.Response(self.token_status, json=body)
            token = f"token-{len(self.issued) + 1}"
            self.issued.append(token)
            body = {"access_token": token, "expires_in": 3600}
            if self.rotate_refresh_token:
                body["refresh_token"] = f"refresh-{len(self.issued) + 1}"
            return httpx.Response(200, json=body)
        authorization = request.headers.get("authorization")
        self.api_calls.append(authorization)
        current = f"Bearer {self.issued[-1]}" if self.issued else None
        if self.api_always_refuses or authorization != current or authorization in self.revoked:
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"ok": True})

    def revoke_current(self) -> None:
        self.revoked.add(f"Bearer {self.issued[-1]}")
        # The next token issued is new, so it is accepted again.


def client_for(vendor: FakeVendor) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(vendor.handle))


# The client's secret and the vendor's token URL, as every grant below sends them.
CLIENT = {"token_url": TOKEN_URL, "client_id": "id", "client_secret": "secret"}


def client_credentials(client: httpx.AsyncClient, **kw: Any) -> ClientCredentialsAuth[str]:
    return ClientCredentialsAuth(client=client, **CLIENT, **kw)


def refresh_token(client: httpx.AsyncClient, **kw: Any) -> RefreshTokenAuth[str]:
    return RefreshTokenAuth(client=client, refresh_token="refresh-1", **CLIENT, **kw)


def jwt_bearer(client: httpx.AsyncClient, **kw: Any) -> JwtBearerAuth[str]:
    return JwtBearerAuth(
        token_url=TOKEN_URL,
        client=client,
        private_key_pem=str(kw.pop("private_key_pem", PRIVATE_PEM)),
        claims=lambda: {"iss": "app", "sub": "user-1", "aud": "vendor.test", "exp": 4102444800},
        vendor="Vendor",
        **kw,
    )


GRANTS: list[Callable[..., BearerAuth[str]]] = [client_credentials, refresh_token, jwt_bearer]


@pytest.mark.parametrize("make", GRANTS)
async def test_a_token_is_fetched_once_and_reused(make: Callable[..., BearerAuth[str]]) -> None:
    vendor = FakeVendor()
    async with client_for(vendor) as client:
        auth = make(client)
        for _ in range(3):
            assert (await client.get(API_URL, auth=auth)).status_code == 200

    assert auth.exchanges == 1
    assert vendor.issued == ["token-1"]
    assert vendor.api_calls == ["Bearer token-1"] * 3


@pytest.mark.parametrize("make", GRANTS)
async def test_a_refused_token_is_refreshed_once_and_the_request_replayed(
    make: Callable[..., BearerAuth[str]],
) -> None:
    vendor = FakeVendor()
    async with client_for(vendor) as client:
        auth = make(client)
        await client.get(API_URL, auth=auth)
        vendor.revoke_current()

        response = await client.post(API_URL, json={"n": 1}, auth=auth)

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert auth.exchanges == 2
    assert vendor.api_calls == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


@pytest.mark.parametrize("make", GRANTS)
async def test_a_second_401_is_an_error_not_a_loop(make: Callable[..., BearerAuth[str]]) -> None:
    vendor = FakeVendor(api_always_refuses=True)
    async with client_for(vendor) as client:
        auth = make(client)
        response = await client.get(API_URL, auth=auth)

    assert response.status_code == 401
    assert len(vendor.api_calls) == 2
    assert auth.exchanges == 2
    with pytest.raises(PermanentError):
        raise_for_status("vendor", response)


@pytest.mark.parametrize("make", GRANTS)
async def test_concurrent_requests_share_one_token_exchange(
    make: Callable[..., BearerAuth[str]],
) -> None:
    vendor = FakeVendor(token_delay=0.01)
    async with client_for(vendor) as client:
        auth = make(client)
        answers = await asyncio.gather(*(client.get(API_URL, auth=auth) for _ in range(10)))

    assert [a.status_code for a in answers] == [200] * 10
    assert auth.exchanges == 1
    assert len(vendor.forms) == 1


@pytest.mark.parametrize("make", GRANTS)
async def test_concurrent_requests_refused_together_share_one_refresh(
    make: Callable[..., BearerAuth[str]],
) -> None:
    vendor = FakeVendor(token_delay=0.01)
    async with client_for(vendor) as client:
        auth = make(client)
        await client.get(API_URL, auth=auth)
        vendor.revoke_current()

        answers = await asyncio.gather(*(client.get(API_URL, auth=auth) for _ in range(10)))

    assert [a.status_code for a in answers] == [200] * 10
    assert auth.exchanges == 2
    assert vendor.issued == ["token-1", "token-2"]


async def test_a_token_is_fetched_again_shortly_before_it_ends() -> None:
    vendor = FakeVendor()
    now = [0.0]
    async with client_for(vendor) as client:
        auth = client_credentials(client, clock=lambda: now[0])
        await client.get(API_URL, auth=auth)
        now[0] = 3299.0  # an hour's token, refreshed five minutes early
        await client.get(API_URL, auth=auth)
        assert auth.exchanges == 1
        now[0] = 3301.0
        await client.get(API_URL, auth=auth)

    assert auth.exchanges == 2
    assert vendor.api_calls[-1] == "Bearer token-2"


async def test_the_grants_send_their_own_forms() -> None:
    vendor = FakeVendor()
    async with client_for(vendor) as client:
        await client.get(API_URL, auth=client_credentials(client, scope="org/.default"))
        await client.get(API_URL, auth=refresh_token(client))
        await client.get(API_URL, auth=jwt_bearer(client))

    credentials, refresh, bearer = vendor.forms
    assert credentials == {
        "grant_type": "client_credentials",
        "client_id": "id",
        "client_secret": "secret",
        "scope": "org/.default",
    }
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["refresh_token"] == "refresh-1"
    assert bearer["grant_type"] == JWT_BEARER_GRANT
    claims = jwt.decode(
        bearer["assertion"], KEY.public_key(), algorithms=["RS256"], audience="vendor.test"
    )
    assert (claims["iss"], claims["sub"]) == ("app", "user-1")


async def test_a_rotated_refresh_token_is_used_for_the_next_refresh() -> None:
    vendor = FakeVendor(rotate_refresh_token=True)
    async with client_for(vendor) as client:
        auth = refresh_token(client)
        await client.get(API_URL, auth=auth)
        vendor.revoke_current()
        await client.get(API_URL, auth=auth)

    assert [f["refresh_token"] for f in vendor.forms] == ["refresh-1", "refresh-2"]


async def test_a_static_token_gets_no_retry_after_a_401() -> None:
    vendor = FakeVendor(api_always_refuses=True)
    async with client_for(vendor) as client:
        response = await client.get(API_URL, auth=StaticBearer("pat-1"))

    assert response.status_code == 401
    assert vendor.api_calls == ["Bearer pat-1"]
    assert vendor.forms == []


async def test_a_refused_grant_is_permanent_and_names_only_the_oauth_code() -> None:
    vendor = FakeVendor(token_status=400)
    async with client_for(vendor) as client:
        with pytest.raises(PermanentError) as caught:
            await client.get(API_URL, auth=client_credentials(client))

    assert caught.value.reason == "vendor auth answered 400 (invalid_grant)"
    assert "jane" not in str(caught.value)
    assert vendor.api_calls == []


async def test_a_token_endpoint_in_trouble_is_retryable() -> None:
    vendor = FakeVendor(token_status=503)
    async with client_for(vendor) as client:
        with pytest.raises(RetryableError):
            await client.get(API_URL, auth=refresh_token(client))


def test_a_jwt_key_that_is_not_rsa_pem_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Vendor private key"):
        jwt_bearer(httpx.AsyncClient(), private_key_pem="not a key")


def test_no_secret_or_token_in_repr() -> None:
    auth = client_credentials(httpx.AsyncClient())
    assert "secret" not in repr(auth)
    assert "pat-1" not in repr(StaticBearer("pat-1"))
