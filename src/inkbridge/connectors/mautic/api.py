"""Mautic's REST API as the Mautic connector uses it: OAuth2 client credentials (token cached
until shortly before it expires, fetched again once on a 401) or HTTP basic auth, both as
``httpx.Auth``, and answers classified the shared way (``vendor_http.responses``)."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

import httpx

from inkbridge.connectors.rest_api import RestApi
from inkbridge.errors import ConfigError
from inkbridge.vendor_http.auth import ClientCredentialsAuth
from inkbridge.vendor_http.responses import raise_for_answer

TOKEN_MARGIN_SECONDS = 60.0


class MauticLogin(TypedDict, total=False):
    """How a Mautic API signs in: an OAuth2 client id and secret, or a username and password
    (basic auth); and the timeout of each request (10 s)."""

    client_id: str | None
    client_secret: str | None
    username: str | None
    password: str | None
    timeout: float


class MauticApi(RestApi):
    """Authenticated calls to one Mautic instance; ``requests`` counts API calls made."""

    def __init__(
        self, name: str, base_url: str, client: httpx.AsyncClient, **login: Unpack[MauticLogin]
    ) -> None:
        client_id, client_secret = login.get("client_id"), login.get("client_secret")
        username, password = login.get("username"), login.get("password")
        timeout = login.get("timeout", 10.0)
        auth: httpx.Auth
        if client_id and client_secret:
            auth = ClientCredentialsAuth[str](
                token_url=base_url.rstrip("/") + "/oauth/v2/token",
                client=client,
                label=name,
                client_id=client_id,
                client_secret=client_secret,
                default_lifetime=0.0,
                timeout=timeout,
                margin=TOKEN_MARGIN_SECONDS,
            )
        elif username and password:
            auth = httpx.BasicAuth(username, password)
        else:
            raise ConfigError(
                f"destination {name!r}: client_id + client_secret, or username + password"
            )
        super().__init__(name, base_url, client, timeout, auth)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """The decoded answer; None for a 404 when ``missing_ok``."""
        # OAuth: a token that expired early or was revoked is fetched again once on a 401.
        response = await self._send(method, path, params=params, json=body)
        if response.status_code == 404 and missing_ok:
            return None
        raise_for_answer(self.name, response)
        return self._json(response)
