"""Pipedrive erasure: every person with the lead's email (found by exact-match search, as the
connector finds them) is deleted (``DELETE /api/v2/persons/{id}``). Pipedrive keeps a deleted
person restorable for 30 days, then removes it for good. A person already gone answers 404,
and a search that finds none means there is nothing left to erase.
"""

from __future__ import annotations

from collections.abc import Mapping

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import erasure_identifiers
from inkbridge.connectors.outbound import as_mapping
from inkbridge.connectors.pipedrive.api import PipedriveApi
from inkbridge.errors import PermanentError


class PipedriveErasure:
    """``Eraser`` for one Pipedrive company."""

    def __init__(self, api: PipedriveApi) -> None:
        self._api = api

    async def erase(self, change: Change) -> None:
        _, email = erasure_identifiers(change)
        if not email:
            raise PermanentError("Pipedrive finds persons by email: the erasure names none")
        for person_id in await self._persons(email):
            # None: a 404, the person is gone already.
            await self._api.call("DELETE", f"/api/v2/persons/{person_id}")

    async def _persons(self, email: str) -> list[int]:
        key = email.strip().lower()
        params: dict[str, str | int] = {
            "term": email,
            "fields": "email",
            "exact_match": "true",
            "limit": 100,
        }
        data = as_mapping(await self._api.call("GET", "/api/v2/persons/search", params=params))
        items = (as_mapping(entry).get("item") for entry in data.get("items") or [])
        return sorted(
            {
                int(item["id"])
                for item in items
                if isinstance(item, Mapping)
                and key in {str(e).lower() for e in item.get("emails") or []}
            }
        )
