"""The HubSpot emulator's account: ``GET /account-info/v3/details``, which any valid token of the
account may read whatever its scopes (``inkbridge doctor`` checks credentials with it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ACCOUNT_DETAILS = {
    "portalId": 4242,
    "accountType": "STANDARD",
    "timeZone": "Etc/UTC",
    "companyCurrency": "EUR",
    "uiDomain": "app.hubspot.com",
    "dataHostingLocation": "eu1",
}


async def account_details(_request: Request) -> Response:
    return JSONResponse(ACCOUNT_DETAILS)
