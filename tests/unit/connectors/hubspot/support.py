"""What the HubSpot connector tests share: the emulator's URL, the connector's options and
the connector built over a test client."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.connectors.hubspot.auth import PrivateAppToken
from inkbridge.connectors.hubspot.connector import HubSpotConnector
from inkbridge.connectors.hubspot.plan import HubSpotOptions

BASE = "http://hubspot.test"
OPTIONS = HubSpotOptions(
    owners={"owner-7": "101", "owner-8": "102"},
    subscriptions={"marketing_email": 1},
    lists={"onboarding": "77", "suppress": "99"},
    deal_stages={"completed": "closedwon"},
)


def connector(
    client: httpx.AsyncClient, options: HubSpotOptions = OPTIONS, **kw: Any
) -> HubSpotConnector:
    return HubSpotConnector(
        name="hubspot",
        base_url=BASE,
        client=client,
        auth=kw.pop("auth", PrivateAppToken("pat-emulator")),
        options=options,
        **kw,
    )
