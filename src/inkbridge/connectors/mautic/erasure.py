"""Mautic erasure: every contact with the person's email (found with the exact ``where``
filter the connector uses) is deleted (``DELETE /api/contacts/{id}/delete``). A contact
already gone answers 404, which counts as erased.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import erasure_email
from inkbridge.connectors.mautic.api import MauticApi
from inkbridge.connectors.outbound import as_mapping


class MauticErasure:
    """``Eraser`` for one Mautic instance."""

    def __init__(self, api: MauticApi) -> None:
        self._api = api

    async def erase(self, change: Change) -> None:
        email = erasure_email(change, "Mautic finds contacts")
        for contact_id in await self._contacts(email):
            await self._api.call("DELETE", f"/api/contacts/{contact_id}/delete", missing_ok=True)

    async def _contacts(self, email: str) -> list[int]:
        params = httpx.QueryParams(
            [
                ("where[0][col]", "email"),
                ("where[0][expr]", "eq"),
                ("where[0][val]", email),
                ("limit", "100"),
            ]
        )
        answer = as_mapping(await self._api.call("GET", "/api/contacts", params=params))
        # Keyed by contact id; an older Mautic sends an empty list when nothing matched.
        raw = answer.get("contacts")
        listed = raw.values() if isinstance(raw, Mapping) else []
        return sorted({int(c["id"]) for c in map(as_mapping, listed) if c.get("id") is not None})
