"""The signed document of each of the six providers through a real ``inkbridge serve``: an envelope
created and completed at the vendor's emulator, then ``GET /v1/envelopes/{id}/document`` with a
``documents`` token streams the very PDF the emulator serves, and the access is in the audit log
of the region's database file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inkbridge.sandbox.signed_pdf import signed_pdf
from tests.acceptance.provider_stack import ProviderStack, iter_stack
from tests.acceptance.provider_vendors import PROVIDERS
from tests.support.processes import cli

pytestmark = pytest.mark.slow

# The name each emulator's PDF carries.
LABELS = {
    "docusign": "DocuSign",
    "dropbox_sign": "Dropbox Sign",
    "acrobat_sign": "Acrobat Sign",
    "pandadoc": "PandaDoc",
    "documenso": "Documenso",
    "docuseal": "DocuSeal",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderStack]:
    yield from iter_stack(tmp_path_factory.mktemp("documents"))


@pytest.fixture(scope="module")
def documents_token(world: ProviderStack) -> str:
    config = world.root / "inkbridge.toml"
    return cli(["tokens", "create", "--config", str(config), "--scope", "documents"]).strip()


def _title(emulator: Any, ref: str) -> str:
    if hasattr(emulator, "book"):
        return str(emulator.book.get(ref).title)
    if hasattr(emulator, "requests"):
        return str(emulator.requests[ref].title)
    return str(emulator.envelopes[ref].email_subject)


def _accesses(world: ProviderStack, envelope_id: str) -> list[tuple[str, dict[str, Any]]]:
    path = world.root / "data" / "default.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT actor, details FROM audit_log WHERE action = ? AND subject_id = ?",
            ("api:envelope:document_accessed", envelope_id),
        ).fetchall()
    return [(actor, json.loads(details)) for actor, details in rows]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_signed_pdf_streams_from_each_provider_and_the_access_is_audited(
    world: ProviderStack, documents_token: str, provider: str
) -> None:
    view = world.completed(provider)
    ref = view["provider_envelope_id"]
    url = f"{world.base}/v1/envelopes/{view['id']}/document"

    refused = httpx.get(url, headers={"Authorization": "Bearer ibk_not-a-token"}, timeout=30)
    answer = httpx.get(url, headers={"Authorization": f"Bearer {documents_token}"}, timeout=30)

    assert refused.status_code == 401
    assert answer.status_code == 200, answer.text
    emulator = world.vendors[provider].emulator
    assert answer.content == signed_pdf(ref, _title(emulator, ref), LABELS[provider])
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    [(actor, details)] = _accesses(world, view["id"])
    assert actor.startswith("token:")
    assert details["outcome"] == "streamed"
    assert details["bytes"] == len(answer.content)
    assert details["connection"] == provider
