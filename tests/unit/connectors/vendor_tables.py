"""What the vendor tables (crm_vendors.py, marketing_vendors.py) share: a vendor's name, its
emulator app and the URL it is reached at, the fixtures that run a test once per vendor of a
table, the settings builder every vendor is reached through (the connector registry), and
destination settings whose one secret is read from the environment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Connector
from inkbridge.connectors.registry import build_connector
from inkbridge.local_site import LocalSite

# The registry wants this server as the sandbox sees it; no vendor of these tables uses it.
SITE = LocalSite("http://127.0.0.1:8080", lambda _connection: None)


@dataclass(frozen=True)
class Vendor:
    """A destination vendor whose emulator runs in process at ``http://<name>.test``."""

    name: str
    create_app: Callable[[], Starlette]

    @property
    def base(self) -> str:
        return f"http://{self.name}.test"

    def from_settings(self, dest: DestinationSettings, client: httpx.AsyncClient) -> Connector:
        """The connector the registry builds for ``dest``, named after the vendor."""
        return build_connector(self.name, dest, client, SITE)


def vendor_fixtures(vendors: Sequence[Vendor]) -> tuple[Any, Any, Any]:
    """The ``vendor`` fixture (a test runs once per vendor of ``vendors``), and the
    ``base_url`` and ``app`` of that vendor's emulator."""

    @pytest.fixture(params=vendors, ids=lambda chosen: chosen.name)
    def vendor(request: pytest.FixtureRequest) -> Vendor:
        chosen: Vendor = request.param
        return chosen

    @pytest.fixture
    def base_url(vendor: Vendor) -> str:
        return vendor.base

    @pytest.fixture
    def app(vendor: Vendor) -> Starlette:
        return vendor.create_app()

    return vendor, base_url, app


def settings_with_secret(
    kind: str, credential: str, env: str, url: str | None, **options: str
) -> dict[str, Any]:
    """Destination settings of ``kind`` at ``url`` whose ``credential`` is the environment
    variable ``env``; ``options`` are the vendor's own."""
    settings: dict[str, Any] = {
        "kind": kind,
        "credentials": {credential: f"env:{env}"},
        "options": options,
    }
    if url is not None:
        settings["url"] = url
    return settings
