"""Sandbox CRM / marketing erasure: ``POST /records/erase`` with the lead id deletes the lead's
record and every record naming the lead. Deleting nothing is a success too (already erased).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import erased_or_gone, erasure_identifiers
from inkbridge.vendor_http.responses import send


class SandboxCrmErasure:
    """``Eraser`` for the sandbox CRM or marketing tool (``base_url`` includes its mount)."""

    def __init__(
        self, name: str, base_url: str, client: httpx.AsyncClient, headers: Mapping[str, str]
    ) -> None:
        self._name = name
        self._url = base_url.rstrip("/") + "/records/erase"
        self._client = client
        self._headers = dict(headers)

    async def erase(self, change: Change) -> None:
        lead_id, _ = erasure_identifiers(change)
        response = await send(
            self._client,
            self._name,
            "POST",
            self._url,
            json={"lead_id": lead_id},
            headers=self._headers,
        )
        erased_or_gone(self._name, response)
