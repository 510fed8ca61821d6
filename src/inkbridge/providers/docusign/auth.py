"""DocuSign's OAuth JWT grant: sign an assertion with the integration's RSA key, trade it for an
access token, and keep that token until shortly before it expires (``vendor_http.auth`` does the
caching, the one refresh after a 401 and the shared exchange for concurrent callers).

The assertion carries ``iss`` (integration key), ``sub`` (the impersonated user's id), ``aud``
(the bare host of the auth server, e.g. ``account-d.docusign.com``: no scheme, or DocuSign
rejects it), ``scope`` and ``iat``/``exp``. Tokens last an hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from inkbridge.vendor_http.auth import JWT_BEARER_GRANT, JwtBearerAuth

__all__ = ["JWT_BEARER_GRANT", "DocuSignJwtAuth"]

DEFAULT_SCOPES = ("signature", "impersonation")
# DocuSign caps an assertion's life at one hour; ours only has to survive one request.
ASSERTION_LIFETIME_SECONDS = 600


class DocuSignJwtAuth(JwtBearerAuth[str]):
    """Access tokens for one integration key impersonating one DocuSign user."""

    def __init__(
        self,
        *,
        auth_url: str,
        integration_key: str,
        user_id: str,
        private_key_pem: str,
        client: httpx.AsyncClient,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._audience = urlsplit(auth_url).netloc or auth_url
        self._integration_key = integration_key
        self._user_id = user_id
        self._scope = " ".join(scopes)
        self._wall_clock = clock
        super().__init__(
            token_url=auth_url.rstrip("/") + "/oauth/token",
            client=client,
            label="docusign auth",
            private_key_pem=private_key_pem,
            claims=self._assertion_claims,
            vendor="DocuSign",
            timeout=None,
            clock=clock,
        )

    def __repr__(self) -> str:
        # Never the key or a token: reprs end up in tracebacks and logs.
        return f"DocuSignJwtAuth(audience={self._audience!r})"

    def _assertion_claims(self) -> dict[str, Any]:
        now = int(self._wall_clock())
        return {
            "iss": self._integration_key,
            "sub": self._user_id,
            "aud": self._audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "scope": self._scope,
        }
