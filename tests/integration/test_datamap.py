"""The data map of a two-region deployment: every store (without credentials), every processor
with its hosts and regions, every classified column under its categories with encryption,
retention and readers; the same for the same configuration whatever its order; served at
``GET /v1/datamap`` to admin tokens only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from inkbridge.api.app import create_app
from inkbridge.bootstrap import bootstrap
from inkbridge.config import Settings
from inkbridge.connectors.registry import KINDS as DESTINATION_KINDS
from inkbridge.providers.registry import KINDS as PROVIDER_KINDS
from inkbridge.services.datamap import data_map
from inkbridge.services.datamap_markdown import to_markdown
from inkbridge.services.processors import CONNECTION_HOSTS, DESTINATION_HOSTS
from inkbridge.services.tokens import create_token
from inkbridge.store.classification import classified
from tests.support.builders import make_settings

PASSWORD = "pg-secret-7f3a"  # a value that must never appear in the map


def _tree(tmp_path: Path) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "home_region": "eu",
        "sandbox": True,
        "regions": {
            "eu": {"backup_dirs": [str(tmp_path / "eu-backups")]},
            "us": {
                "database_url": f"postgresql://ink:{PASSWORD}@db-us.example.com:5433/ink"
                "?sslmode=require"
            },
        },
        "connections": {
            "sandbox": {"provider": "sandbox", "region": "eu", "secrets": ["env:SANDBOX"]},
            "docusign_us": {
                "provider": "docusign",
                "region": "us",
                "secrets": ["env:CONNECT"],
                "options": {"account_id": "a", "integration_key": "i", "user_id": "u"},
            },
            "hooks_us": {"provider": "standard_webhooks", "region": "us", "secrets": ["env:H"]},
        },
        "destinations": {
            "crm": {"kind": "sandbox_crm", "regions": ["eu"]},
            "hubspot_us": {"kind": "hubspot", "regions": ["us"]},
            "zap": {
                "kind": "webhook",
                "url": f"https://zap:{PASSWORD}@hooks.example.com/x",
                "regions": ["us", "eu"],
            },
        },
        "retention": {"receipt_bodies": "P30D", "unconverted_leads": 15552000},
    }


def _reversed(tree: dict[str, Any]) -> dict[str, Any]:
    return {
        key: dict(reversed(value.items())) if isinstance(value, dict) else value
        for key, value in reversed(tree.items())
    }


def test_a_two_region_map_lists_every_store_processor_and_category(tmp_path: Path) -> None:
    built = data_map(Settings.model_validate(_tree(tmp_path)))

    stores = {(s["name"], s["location"]): s for s in built["stores"]}
    data = tmp_path / "data"
    assert set(stores) == {
        ("database:eu", (data / "eu.db").as_posix()),
        ("database:us", "postgresql://db-us.example.com:5433/ink"),
        ("backups:eu", (tmp_path / "eu-backups").as_posix()),
        ("sandbox:crm", (data / "sandbox" / "crm.db").as_posix()),
        ("sandbox:marketing", (data / "sandbox" / "marketing.db").as_posix()),
        ("sandbox:provider", (data / "sandbox" / "provider.db").as_posix()),
        ("log:stderr", "stderr (JSON lines)"),
        ("keys:eu", (data / "keys" / "eu").as_posix()),
        ("keys:us", (data / "keys" / "us").as_posix()),
    }
    assert stores[("sandbox:provider", (data / "sandbox" / "provider.db").as_posix())][
        "regions"
    ] == ["eu"]
    assert {p["name"]: (p["hosts"], p["regions"]) for p in built["processors"]} == {
        "connection:docusign_us": (["account-d.docusign.com", "demo.docusign.net"], ["us"]),
        "connection:hooks_us": ([], ["us"]),
        "connection:sandbox": (["127.0.0.1:8000"], ["eu"]),
        "destination:crm": (["127.0.0.1:8000"], ["eu"]),
        "destination:hubspot_us": (["api.hubapi.com"], ["us"]),
        "destination:zap": (["hooks.example.com"], ["eu", "us"]),
    }
    email = {c["column"]: c for c in _category(built, "user.contact.email")["columns"]}
    assert email["leads.email"] == {
        "column": "leads.email",
        "encrypted": True,
        "retention": "unconverted_leads: P180D",
        "readable_by": ["admin", "read"],
    }
    assert email["webhook_receipts.body"]["retention"] == "receipt_bodies: P30D"
    assert email["webhook_receipts.body"]["readable_by"] == []
    assert _category(built, "user.contact.email")["regions"] == ["eu", "us"]
    mapped = {c["column"] for category in built["categories"] for c in category["columns"]}
    assert mapped == {c.name for c in classified()}
    text = json.dumps(built)
    assert PASSWORD not in text
    assert "ink:" not in text
    assert "zap:" not in text


def _category(built: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in built["categories"] if c["category"] == name]
    return found


def test_the_same_configuration_in_another_order_gives_the_same_map(tmp_path: Path) -> None:
    first = data_map(Settings.model_validate(_tree(tmp_path)))
    second = data_map(Settings.model_validate(_reversed(_tree(tmp_path))))

    assert json.dumps(first) == json.dumps(second)
    assert to_markdown(first) == to_markdown(second)


def test_every_vendor_of_the_registries_has_its_hosts_in_the_map() -> None:
    assert set(CONNECTION_HOSTS) == set(PROVIDER_KINDS)
    assert set(DESTINATION_HOSTS) == set(DESTINATION_KINDS)


def _get(app: Any, path: str, token: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, headers={"Authorization": f"Bearer {token}"})

    return asyncio.run(go())


def test_the_api_serves_the_map_to_admin_tokens_only(tmp_path: Path, sqlite_url: str) -> None:
    container = bootstrap(make_settings(tmp_path, sqlite_url), auto_migrate=True)
    try:
        admin = create_token(container.databases, "ops", ["admin"]).token
        reader = create_token(container.databases, "dash", ["read"]).token
        app = create_app(container)

        answer = _get(app, "/v1/datamap", admin)
        markdown = _get(app, "/v1/datamap?format=markdown", admin)
        refused = _get(app, "/v1/datamap", reader)
    finally:
        container.databases.dispose()

    assert answer.status_code == 200
    assert answer.json() == json.loads(json.dumps(data_map(container.settings)))
    assert markdown.text == to_markdown(data_map(container.settings))
    assert refused.status_code == 403
