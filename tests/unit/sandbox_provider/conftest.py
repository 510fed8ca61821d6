"""Sandbox provider fixtures: the provider running in process with a receiver for its webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .support import Receiver, Sandbox, running_sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox(Receiver()) as running:
        yield running
