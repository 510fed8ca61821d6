"""What the REST clients under the Marketo, Mautic and Pipedrive connectors share: one vendor's
base URL, HTTP client, timeout and auth, and a count of the requests made (a request the auth
replayed after a 401 counts twice). Each vendor's ``call`` reads its own answer format."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.errors import RetryableError
from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.responses import send


class RestApi:
    """Requests to one vendor; ``requests`` counts them."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        timeout: float,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._client = client
        self._timeout = httpx.Timeout(timeout)
        self._auth = auth
        self.requests = 0

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._auth is not None:
            kwargs["auth"] = self._auth
        response = await send(
            self._client, self.name, method, self._base + path, timeout=self._timeout, **kwargs
        )
        self.requests += 1 + len(response.history)
        return response

    async def check_get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> CredentialCheck:
        """``GET path`` with this API's credentials, for ``inkbridge doctor``: a token
        exchange refused or a 401/403 means the credentials are."""
        return await authenticated_get(
            self._client,
            self.name,
            self._base + path,
            what=f"GET {path}",
            auth=self._auth,
            timeout=self._timeout.read or 10.0,
            params=params,
            headers=headers,
        )

    def _json(self, response: httpx.Response, problem: str = "answered without JSON") -> Any:
        """The decoded body; a body that is no JSON (a proxy's error page) is retryable."""
        try:
            return response.json()
        except ValueError:
            raise RetryableError(f"{self.name} {problem}") from None
