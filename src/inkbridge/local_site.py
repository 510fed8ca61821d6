"""What the built-in sandbox vendors need to know of this server: the URL it is reached at, where
each sandbox app is mounted, and the sandbox service credential of a connection. Built by
``bootstrap`` and handed to the provider and connector registries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inkbridge.config import SANDBOX_CONNECTION

SANDBOX_PROVIDER_PATH = "/sandbox/provider"
SANDBOX_CRM_PATH = "/sandbox/crm"
SANDBOX_MARKETING_PATH = "/sandbox/marketing"
# The sandbox apps' state files under <data_dir>/sandbox/, by mount.
SANDBOX_STATE_FILES = {
    SANDBOX_PROVIDER_PATH: "provider.db",
    SANDBOX_CRM_PATH: "crm.db",
    SANDBOX_MARKETING_PATH: "marketing.db",
}


def sandbox_provider_state_file(connection: str) -> str:
    """The state file of a sandbox connection's provider account under <data_dir>/sandbox/."""
    if connection == SANDBOX_CONNECTION:
        return SANDBOX_STATE_FILES[SANDBOX_PROVIDER_PATH]
    return f"provider-{connection}.db"


def sandbox_provider_path(connection: str) -> str:
    """Where the sandbox provider account of a sandbox connection is mounted: the ``sandbox``
    connection's at ``/sandbox/provider`` (as with one region), any other's under
    ``/sandbox/providers/``, so each region's envelopes live in an account of their own whose
    webhooks go to that region's connection only."""
    if connection == SANDBOX_CONNECTION:
        return SANDBOX_PROVIDER_PATH
    return f"/sandbox/providers/{connection}"


@dataclass(frozen=True)
class LocalSite:
    """This server as the sandbox clients see it."""

    base_url: str
    # The sandbox service credential a connection's clients present (None without a secret).
    sandbox_credential: Callable[[str], str | None]

    def url(self, mount: str) -> str:
        return self.base_url + mount
