"""The Marketo connector built from [destinations.NAME] settings."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.marketo.settings import from_settings
from inkbridge.errors import PermanentError
from inkbridge_emulators.marketo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from ..marketing_payloads import journey_change, lead, lead_change, suppress_change
from .support import BASE, emulator_of


async def test_from_settings_builds_a_working_connector(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKETO_SECRET", DEFAULT_CLIENT_SECRET)
    dest = DestinationSettings(
        kind="marketo",
        url=BASE,
        options={
            "client_id": DEFAULT_CLIENT_ID,
            "journeys": {"onboarding": {"list_id": 7}, "nurture": {"campaign_id": 8}},
            "suppress_list_id": 9,
        },
        credentials={"client_secret": "env:MARKETO_SECRET"},
        batch_size=500,
    )

    built = from_settings("marketo", dest, client)
    result = await built.apply(
        [journey_change("onboarding"), suppress_change(lead("lead_2", "bo@x.test"))]
    )

    assert built.max_batch == 300
    assert all(r.ok for r in result.results)
    assert set(emulator_of(app).list_members) == {7, 9}


async def test_from_settings_derives_the_url_from_the_munchkin_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKETO_SECRET", "s3cret")
    hosts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(401, json={"error": "invalid_client"})

    dest = DestinationSettings(
        kind="marketo",
        options={"munchkin_id": "123-ABC-456", "client_id": "cid"},
        credentials={"client_secret": "env:MARKETO_SECRET"},
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(PermanentError):
            await from_settings("marketo", dest, http).apply([lead_change()])

    assert hosts == ["123-abc-456.mktorest.com"]
