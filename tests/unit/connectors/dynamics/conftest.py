"""Dynamics 365 test fixtures: the Dataverse emulator app, its state, and the URL the client
talks to."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from inkbridge_emulators.dynamics import DynamicsEmulator, create_dynamics_app

from .support import BASE


@pytest.fixture
def base_url() -> str:
    return BASE


@pytest.fixture
def app() -> Starlette:
    return create_dynamics_app(None)


@pytest.fixture
def dyn(app: Starlette) -> DynamicsEmulator:
    emulator: DynamicsEmulator = app.state.dynamics
    return emulator
