"""Marketo test fixtures: the emulator app and the URL the client talks to."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from inkbridge_emulators.marketo import create_marketo_app

from .support import BASE


@pytest.fixture
def base_url() -> str:
    return BASE


@pytest.fixture
def app() -> Starlette:
    return create_marketo_app()
