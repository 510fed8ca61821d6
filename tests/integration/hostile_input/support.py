"""The hostile-input corpus: bad input fails closed, never a 5xx, never a change.

Every case sends one hostile request to the whole application in-process (the webhook hot path
in front, `/v1` behind the body limits) and asserts its exact status, that the answer is a
problem document, and that the row count of every table in every region database is what it was.
Webhook cases run against every provider kind, validly signed (so the refusal is about the body)
unless the case is about the signature. Regions: ``default`` on SQLite and ``eu`` on PostgreSQL
(SQLite too when PostgreSQL is unreachable), with connections in both.

This module holds the stack's settings, the row counts and the refusal check the cases share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from inkbridge.bootstrap import Container
from inkbridge.config import Settings
from inkbridge.store.schema import metadata
from tests.support.signers import PROVIDERS, STANDARD_SECRET

MAX_BODY = 1_048_576  # server.max_body_bytes (the default): webhooks, triggers
API_MAX_BODY = 65_536  # server.max_json_body_bytes: `/v1` JSON
HUBSPOT_SECRET = "hubspot-app-secret-hostile"
EU_KINDS = frozenset({"docusign", "pandadoc", "docuseal"})
PROBLEM = "application/problem+json"
STRANGER = "whsec_dGhpcyBpcyBub3Qgb3VyIHNlY3JldA=="  # a well-formed secret nobody configured


@dataclass
class Stack:
    container: Container
    admin: dict[str, str]
    capture_key: str


def _settings(tmp: Path, eu_url: str) -> Settings:
    connections: dict[str, Any] = {}
    for provider in PROVIDERS:
        secret_file = tmp / f"{provider.kind}.secret"
        secret_file.write_text(provider.secret)
        connections[provider.kind] = {
            "provider": provider.kind,
            "region": "eu" if provider.kind in EU_KINDS else "default",
            "secrets": [f"file:{secret_file}"],
        }
    (tmp / "hubspot.secret").write_text(HUBSPOT_SECRET)
    (tmp / "crm.secret").write_text(STANDARD_SECRET)
    return Settings.model_validate(
        {
            "data_dir": str(tmp / "data"),
            "regions": {
                "default": {"database_url": f"sqlite:///{tmp}/default.db"},
                "eu": {"database_url": eu_url},
            },
            "server": {"max_body_bytes": MAX_BODY, "max_json_body_bytes": API_MAX_BODY},
            "connections": connections,
            "destinations": {},
            # The corpus sends many touches from one client: budgets are not what it tests.
            "capture": {"rate_per_minute_per_ip": 100_000},
            "templates": {"nda": {"title": "Mutual NDA"}},
            "triggers": {
                "crm": {
                    "kind": "standard_webhooks",
                    "secrets": [f"file:{tmp / 'crm.secret'}"],
                    "stage": "won",
                    "template_key": "nda",
                },
                "hubspot": {
                    "kind": "hubspot",
                    "secrets": [f"file:{tmp / 'hubspot.secret'}"],
                    "stage": "contractsent",
                    "template_key": "nda",
                },
            },
        }
    )


def row_counts(container: Container) -> dict[str, int]:
    """Rows of every table in every region database, keyed ``region.table``."""
    counts: dict[str, int] = {}
    for db in container.databases:
        with db.reader() as conn:
            for table in metadata.sorted_tables:
                query = select(func.count()).select_from(table)
                counts[f"{db.region}.{table.name}"] = int(conn.execute(query).scalar_one())
    return counts


async def assert_refused_without_change(
    stack: Stack, send: Callable[[], Any], status: int
) -> httpx.Response:
    before = row_counts(stack.container)
    response: httpx.Response = await send()
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM)
    assert row_counts(stack.container) == before
    return response


JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class ApiCase:
    name: str
    content: bytes | Callable[[], Any]
    status: int
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    # The problem's `field`, when the case is about one field.
    field_name: str | None = None


def _content(case: ApiCase) -> Any:
    return case.content() if callable(case.content) else case.content


# The page the stack's publishable key is for.
CAPTURE_ORIGIN = "https://www.example.test"
