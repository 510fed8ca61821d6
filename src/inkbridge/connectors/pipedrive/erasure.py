"""Pipedrive erasure: every person with the lead's email (found by exact-match search, as the
connector finds them) is deleted (``DELETE /api/v2/persons/{id}``). Pipedrive keeps a deleted
person restorable for 30 days, then removes it for good. A person already gone answers 404,
and a search that finds none means there is nothing left to erase.
"""

from __future__ import annotations

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import erasure_email
from inkbridge.connectors.pipedrive.api import PipedriveApi


class PipedriveErasure:
    """``Eraser`` for one Pipedrive company."""

    def __init__(self, api: PipedriveApi) -> None:
        self._api = api

    async def erase(self, change: Change) -> None:
        email = erasure_email(change, "Pipedrive finds persons")
        for person_id in await self._persons(email):
            # None: a 404, the person is gone already.
            await self._api.call("DELETE", f"/api/v2/persons/{person_id}")

    async def _persons(self, email: str) -> list[int]:
        return sorted(set(await self._api.persons_with_email(email, limit=100)))
