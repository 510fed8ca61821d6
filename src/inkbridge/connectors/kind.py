"""What names one destination vendor's parts (``ConnectorKind``). Each vendor folder exports one;
``registry`` maps destination kinds to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Connector
from inkbridge.local_site import LocalSite

# How a vendor's connector is built from its settings: (destination name, settings, client).
FromSettings = Callable[[str, DestinationSettings, httpx.AsyncClient], Connector]


@dataclass(frozen=True)
class ConnectorKind:
    """One destination vendor: how its connector is built, and whether pending changes of one
    record may be coalesced (a CRM needs only the newest state; an event stream needs all)."""

    name: str
    build: Callable[[str, DestinationSettings, httpx.AsyncClient, LocalSite], Connector]
    coalesce: bool = True

    @classmethod
    def from_settings(cls, name: str, build: FromSettings) -> ConnectorKind:
        """A vendor whose connector needs nothing of this server, only its own settings."""
        return cls(name, build=lambda dest_name, dest, http, _site: build(dest_name, dest, http))
