"""Salesforce test fixtures: the key pair of the JWT flow, the emulator app and its state
(``sf``), the URL the client talks to and the connector."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.connectors.salesforce.connector import SalesforceConnector

from ..crm_vendors import SALESFORCE
from ..crm_vendors import key_pair as shared_key_pair
from .support import OPTIONS, jwt_auth

base_url, app, sf = SALESFORCE.folder_fixtures("sf")


@pytest.fixture
def key_pair() -> tuple[str, str]:
    """The key pair whose public half the emulator app holds."""
    return shared_key_pair()


@pytest.fixture
def connector(client: httpx.AsyncClient, key_pair: tuple[str, str]) -> SalesforceConnector:
    return SalesforceConnector(
        name="salesforce", client=client, auth=jwt_auth(client, key_pair), options=OPTIONS
    )
