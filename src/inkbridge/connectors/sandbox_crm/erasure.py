"""Sandbox CRM / marketing erasure: ``POST /records/erase`` with the lead id deletes the lead's
record and every record naming the lead. Deleting nothing is a success too (already erased).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import HttpEraser, erasure_identifiers


class SandboxCrmErasure(HttpEraser):
    """``Eraser`` for the sandbox CRM or marketing tool (``base_url`` includes its mount)."""

    def __init__(
        self, name: str, base_url: str, client: httpx.AsyncClient, headers: Mapping[str, str]
    ) -> None:
        super().__init__(name, client, headers=dict(headers))
        self._url = base_url.rstrip("/") + "/records/erase"

    async def erase(self, change: Change) -> None:
        lead_id, _ = erasure_identifiers(change)
        await self._delete_record("POST", self._url, json={"lead_id": lead_id})
