"""``inkbridge doctor``'s check of a Salesforce destination: the OAuth session (the token
exchange at the login URL), then ``GET /services/data/<version>/limits``, which any API user
may read and which changes nothing."""

from __future__ import annotations

import httpx

from inkbridge.connectors.salesforce.auth import SalesforceAuth
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.credentials import CredentialCheck, Verdict, authenticated_get


async def check_limits(
    client: httpx.AsyncClient,
    name: str,
    auth: SalesforceAuth,
    base_url: str | None,
    api_version: str,
    timeout: float,
) -> CredentialCheck:
    try:
        session = await auth.session()
    except PermanentError as exc:
        # A refused grant (a wrong secret or key, an unapproved user) is a permanent error.
        return CredentialCheck(Verdict.REFUSED, f"token exchange: credentials refused, {exc}")
    except RetryableError as exc:
        return CredentialCheck(Verdict.FAILED, f"token exchange: {exc}")
    path = f"/services/data/{api_version}/limits"
    return await authenticated_get(
        client,
        name,
        (base_url or session.instance_url) + path,
        what=f"GET {path}",
        auth=auth,
        timeout=timeout,
    )
