"""Salesforce test fixtures: a key pair for the JWT flow, the emulator app and its state, the
URL the client talks to and the connector."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.connectors.salesforce.connector import SalesforceConnector
from inkbridge_emulators.salesforce import SalesforceEmulator, create_salesforce_app
from tests.support.keys import rsa_pem

from .support import BASE, OPTIONS, jwt_auth


@pytest.fixture
def base_url() -> str:
    return BASE


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    return rsa_pem()


@pytest.fixture
def app(key_pair: tuple[str, str]) -> Starlette:
    return create_salesforce_app(None, public_key_pem=key_pair[1])


@pytest.fixture
def sf(app: Starlette) -> SalesforceEmulator:
    emulator: SalesforceEmulator = app.state.salesforce
    return emulator


@pytest.fixture
def connector(client: httpx.AsyncClient, key_pair: tuple[str, str]) -> SalesforceConnector:
    return SalesforceConnector(
        name="salesforce", client=client, auth=jwt_auth(client, key_pair), options=OPTIONS
    )
