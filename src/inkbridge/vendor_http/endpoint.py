"""One vendor's API as a provider client calls it: the base URL, the headers every call carries
(its credential), and where its answers name their short error code. ``request`` sends a call
and raises what ``responses.raise_for_status`` makes of anything but a 2xx; ``check_get`` is
``inkbridge doctor``'s harmless authenticated read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.responses import body_error_code, json_object, raise_for_status, send


@dataclass(frozen=True)
class VendorEndpoint:
    """Calls to ``base_url`` through ``client``; ``code_keys`` name the body fields that may
    hold the vendor's error code (the first present wins)."""

    client: httpx.AsyncClient
    vendor: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    code_keys: tuple[str, ...] = ()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A 2xx answer to ``method path``; anything else raises Retryable/PermanentError."""
        url = self.base_url + path
        headers = dict(self.headers)
        response = await send(self.client, self.vendor, method, url, headers=headers, **kwargs)
        raise_for_status(self.vendor, response, body_error_code(response, *self.code_keys))
        return response

    async def json_object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON object a successful call answers (see ``responses.json_object``)."""
        return json_object(self.vendor, await self.request(method, path, **kwargs))

    async def check_get(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> CredentialCheck:
        """``GET path`` with the endpoint's credential, classified as accepted, refused or not
        reached; the detail names the call by its path on the vendor's host."""
        return await authenticated_get(
            self.client,
            self.vendor,
            self.base_url + path,
            code_keys=self.code_keys,
            headers=dict(self.headers),
            params=dict(params or {}),
        )
