"""What the Marketo connector tests share: the emulator's URL, the configured lists and
campaign, the connector built over a test client, and views of the emulator's state."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from inkbridge.connectors.marketo.connector import JourneyTarget, MarketoConnector
from inkbridge_emulators.marketo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MarketoEmulator

from ..marketing_payloads import EMAIL, emulator_in

BASE = "http://marketo.test"
ONBOARDING_LIST = 1001
NURTURE_CAMPAIGN = 2002
SUPPRESS_LIST = 1900
JOURNEYS = {
    "onboarding": JourneyTarget(list_id=ONBOARDING_LIST),
    "nurture": JourneyTarget(campaign_id=NURTURE_CAMPAIGN),
}


def emulator_of(app: Starlette) -> MarketoEmulator:
    return emulator_in(app, MarketoEmulator)


def lead_by_email(app: Starlette, email: str = EMAIL) -> dict[str, Any]:
    (found,) = emulator_of(app).leads_by("email", email)
    return found


def connector(client: httpx.AsyncClient, **extra: Any) -> MarketoConnector:
    settings: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "journeys": JOURNEYS,
        "suppress_list_id": SUPPRESS_LIST,
        **extra,
    }
    return MarketoConnector("marketo", BASE, client, **settings)


def routes(app: Starlette) -> dict[str, int]:
    return dict(emulator_of(app).traffic.by_route)
