"""One folder per vendor, one record per folder, one registry per role: every vendor package
under ``providers/`` and ``connectors/`` exports exactly one kind record, the registries map
every kind name to its record (no naming convention, no if-chains), and an unknown name is a
configuration error that says what is known."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import get_args

import httpx
import pytest
from pydantic import SecretStr

from inkbridge import connectors, providers
from inkbridge.config import ConnectionSettings, DestinationKind, DestinationSettings
from inkbridge.connectors import registry as connector_registry
from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.webhook.connector import OutboundWebhookConnector
from inkbridge.errors import ConfigError
from inkbridge.local_site import LocalSite
from inkbridge.providers import registry as provider_registry
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.kind import ProviderKind, WebhookSetup
from inkbridge.providers.pandadoc.client import PandaDocClient
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter

SITE = LocalSite("https://inkbridge.example.test", lambda connection: f"cred-{connection}")


def vendor_packages(package: ModuleType) -> list[ModuleType]:
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.ispkg
    ]


def records(module: ModuleType, kind: type) -> list[object]:
    return [value for value in vars(module).values() if isinstance(value, kind)]


@pytest.mark.parametrize(
    ("package", "kind", "registry"),
    [
        (providers, ProviderKind, provider_registry.KINDS),
        (connectors, ConnectorKind, connector_registry.KINDS),
    ],
)
def test_every_vendor_folder_exports_one_record_and_the_registry_holds_it(
    package: ModuleType, kind: type, registry: dict[str, object]
) -> None:
    folders = vendor_packages(package)
    exported = {folder.__name__: records(folder, kind) for folder in folders}

    assert len(folders) == 8
    assert all(len(found) == 1 for found in exported.values()), exported
    assert {id(found[0]) for found in exported.values()} == {id(r) for r in registry.values()}


def test_each_provider_name_builds_the_adapter_of_its_own_kind() -> None:
    secret = [SecretStr("whsec_" + "a" * 32)]
    for name, kind in provider_registry.KINDS.items():
        assert kind.name == name
        adapter = kind.adapter(WebhookSetup(name, secret, 300))
        assert adapter.provider == name
    docuseal = provider_registry.KINDS["docuseal"].adapter(WebhookSetup("docuseal", secret, 60))
    sandbox = provider_registry.KINDS["sandbox"].adapter(WebhookSetup("sandbox", secret, 60))
    assert isinstance(docuseal, DocuSealAdapter)
    assert isinstance(sandbox, StandardWebhooksAdapter) and sandbox.provider == "sandbox"


async def test_clients_come_from_the_record_and_a_webhooks_only_connection_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PD_KEY", "pd-key")
    async with httpx.AsyncClient() as http:
        only_webhooks = ConnectionSettings(provider="pandadoc")
        with_api = ConnectionSettings(provider="pandadoc", api_key="env:PD_KEY")
        sandbox = ConnectionSettings(provider="sandbox")
        standard = ConnectionSettings(provider="standard_webhooks", api_url="https://x.test")

        assert provider_registry.build_client("pd", only_webhooks, http, SITE) is None
        assert isinstance(
            provider_registry.build_client("pd", with_api, http, SITE), PandaDocClient
        )
        built = provider_registry.build_client("sandbox", sandbox, http, SITE)
        assert isinstance(built, SandboxProviderClient)
        assert provider_registry.build_client("sw", standard, http, SITE) is None


def test_an_unknown_provider_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as refused:
        provider_registry.build_adapter("x", ConnectionSettings(provider="docusing"))
    assert "'docusing'" in refused.value.args[0]
    assert "docusign" in refused.value.args[0]


def test_the_registry_knows_every_destination_kind_the_settings_accept() -> None:
    assert set(connector_registry.KINDS) == set(get_args(DestinationKind))


async def test_destination_kinds_build_through_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "whsec_" + "b" * 32)
    async with httpx.AsyncClient() as http:
        webhook = DestinationSettings(
            kind="webhook", url="https://hooks.example.test/", secret="env:HOOK_SECRET"
        )
        built = connector_registry.build_connector("out", webhook, http, SITE)
        assert isinstance(built, OutboundWebhookConnector)
        assert connector_registry.kind_of("out", webhook).coalesce is False
        for kind in ("sandbox_crm", "sandbox_marketing", "hubspot", "salesforce"):
            assert connector_registry.kind_of("d", DestinationSettings(kind=kind)).coalesce
        unknown = DestinationSettings.model_construct(kind="fields")
        with pytest.raises(ConfigError, match="no connector for 'fields'"):
            connector_registry.kind_of("d", unknown)
