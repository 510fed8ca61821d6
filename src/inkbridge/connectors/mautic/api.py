"""Mautic's REST API as the Mautic connector uses it: OAuth2 client credentials (token cached
until shortly before it expires, fetched again once on a 401) or HTTP basic auth, both as
``httpx.Auth``, and answers classified the shared way (``vendor_http.responses``)."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.errors import ConfigError, RetryableError
from inkbridge.vendor_http.auth import ClientCredentialsAuth
from inkbridge.vendor_http.responses import raise_for_answer, send

TOKEN_MARGIN_SECONDS = 60.0


class MauticApi:
    """Authenticated calls to one Mautic instance; ``requests`` counts API calls made."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._auth: httpx.Auth
        if client_id and client_secret:
            self._auth = ClientCredentialsAuth[str](
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
            self._auth = httpx.BasicAuth(username, password)
        else:
            raise ConfigError(
                f"destination {name!r}: client_id + client_secret, or username + password"
            )
        self.name = name
        self._base = base_url.rstrip("/")
        self._client = client
        self._timeout = httpx.Timeout(timeout)
        self.requests = 0

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
        response = await send(
            self._client,
            self.name,
            method,
            self._base + path,
            params=params,
            json=body,
            auth=self._auth,
            timeout=self._timeout,
        )
        self.requests += 1 + len(response.history)
        if response.status_code == 404 and missing_ok:
            return None
        raise_for_answer(self.name, response)
        try:
            return response.json()
        except ValueError:
            raise RetryableError(f"{self.name} answered without JSON") from None
