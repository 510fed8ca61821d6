"""What names one e-signature vendor's parts (``ProviderKind``), and what its builders read from
a connection's settings (``WebhookSetup``, ``ClientSetup``). Each vendor folder exports one
``ProviderKind``; ``registry`` maps provider names to them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from inkbridge.config import ConnectionSettings, resolve_secret
from inkbridge.config_senders import SenderMapping, SignatureScheme
from inkbridge.errors import ConfigError
from inkbridge.local_site import LocalSite
from inkbridge.providers.base import ProviderClient, WebhookAdapter


@dataclass(frozen=True)
class WebhookSetup:
    """What an inbound adapter is built from: the accepted secrets, the connection's clock
    tolerance and, for a generic connection, its sender's mapping and signature scheme."""

    provider: str
    secrets: Sequence[SecretStr]
    tolerance_seconds: int
    # A generic connection's sender: its vocabulary and signature scheme (None: inkbridge's).
    mapping: SenderMapping | None = None
    signature: SignatureScheme | None = None


@dataclass(frozen=True)
class ClientSetup:
    """What an API client is built from: one connection's settings and the shared HTTP client."""

    connection: str
    settings: ConnectionSettings
    http: httpx.AsyncClient
    site: LocalSite

    @property
    def webhooks_only(self) -> bool:
        """No API settings at all: the connection receives webhooks, sends and reconciles none."""
        conn = self.settings
        return conn.api_url is None and conn.api_key is None and not conn.options

    def api_url(self, default: str) -> str:
        return self.settings.api_url or default

    def option(self, name: str) -> str:
        value = self.settings.options.get(name)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"connection {self.connection!r} needs options.{name}")
        return value

    def secret_option(self, name: str) -> str:
        return resolve_secret(self.option(name)).get_secret_value()

    def api_key(self) -> str:
        if not self.settings.api_key:
            raise ConfigError(f"connection {self.connection!r} needs api_key (a secret reference)")
        return resolve_secret(self.settings.api_key).get_secret_value()


@dataclass(frozen=True)
class ProviderKind:
    """One e-signature vendor: how its webhooks are verified and, when it has one, how its API
    client is built.

    A connection with no API settings at all only receives webhooks: no client is built for it,
    unless ``client_without_settings`` (the sandbox, whose API this server mounts itself)."""

    name: str
    adapter: Callable[[WebhookSetup], WebhookAdapter]
    client: Callable[[ClientSetup], ProviderClient] | None = None
    client_without_settings: bool = False

    def build_client(self, setup: ClientSetup) -> ProviderClient | None:
        """The connection's API client; None when this vendor has none or the connection
        receives webhooks only."""
        if self.client is None or (setup.webhooks_only and not self.client_without_settings):
            return None
        return self.client(setup)
