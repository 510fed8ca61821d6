"""HubSpot test fixtures: the emulator app, its state, and the URL the client talks to."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from inkbridge_emulators.hubspot import HubSpotEmulator, create_hubspot_app

from .support import BASE


@pytest.fixture
def base_url() -> str:
    return BASE


@pytest.fixture
def app() -> Starlette:
    return create_hubspot_app(None)


@pytest.fixture
def hub(app: Starlette) -> HubSpotEmulator:
    emulator: HubSpotEmulator = app.state.hubspot
    return emulator
