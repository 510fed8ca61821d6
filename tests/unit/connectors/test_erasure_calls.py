"""Each destination's erasure call on the wire (``httpx.MockTransport`` as the vendor): the
vendor's endpoint and body, a failure that heals is retryable, and a person the vendor no
longer has (404) counts as erased, so a retry after a lost answer succeeds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Change, Connector
from inkbridge.connectors.dynamics.connector import from_settings as dynamics
from inkbridge.connectors.hubspot.settings import from_settings as hubspot
from inkbridge.connectors.marketo.settings import from_settings as marketo
from inkbridge.connectors.mautic.connector import from_settings as mautic
from inkbridge.connectors.pipedrive.connector import from_settings as pipedrive
from inkbridge.connectors.salesforce.connector import from_settings as salesforce
from inkbridge.errors import RetryableError

from .vendor_tables import settings_with_secret

BASE = "https://vendor.test"
LEAD, EMAIL = "lead_1", "ada@example.com"
TOKEN = {"access_token": "t", "expires_in": 3600, "instance_url": BASE}

Answer = Callable[[httpx.Request], httpx.Response | None]


def erasure(outbox_id: int = 1) -> Change:
    payload = {
        "erasure": {"id": "era_1", "lead_id": LEAD, "email": EMAIL},
        "lead": {"id": LEAD, "email": EMAIL},
    }
    return Change(outbox_id, f"lead:{LEAD}", "lead.erased", f"lead:{LEAD}:erased", payload, None)


class Vendor:
    """A scripted vendor: token endpoints answer a token; ``answer`` the rest, and the erasure
    call answers the statuses queued in ``statuses`` (then 404: the person is gone)."""

    def __init__(self, answer: Answer, erase_path: str, statuses: list[int]) -> None:
        self.answer = answer
        self.erase_path = erase_path
        self.statuses = statuses
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "token" in path:
            return httpx.Response(200, json=TOKEN)
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = request.content.decode()  # a form
        self.calls.append((request.method, path, body))
        if path == self.erase_path:
            status = self.statuses.pop(0) if self.statuses else 404
            return httpx.Response(status, json={"success": status < 300, "data": None})
        found = self.answer(request)
        assert found is not None, f"unexpected {request.method} {path}"
        return found

    def erasure_calls(self) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[1] == self.erase_path]


def _build(
    build: Callable[[str, DestinationSettings, httpx.AsyncClient], Connector],
    vendor: Vendor,
    **settings: Any,
) -> Connector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(vendor))
    return build("dest", DestinationSettings.model_validate(settings), client)


def _nothing(_: httpx.Request) -> None:
    return None


def _settings(kind: str, credential: str, url: str | None = BASE, **options: str) -> dict[str, Any]:
    return settings_with_secret(kind, credential, "ERASE_SECRET", url, **options)


def _search_answer(path: str, body: Any) -> Answer:
    return lambda request: httpx.Response(200, json=body) if request.url.path == path else None


def _cases() -> dict[str, tuple[Any, Vendor, dict[str, Any], tuple[str, Any]]]:
    """vendor -> (builder, scripted vendor, settings, (method, body) of the erasure call)."""
    return {
        "hubspot": (
            hubspot,
            Vendor(_nothing, "/crm/v3/objects/contacts/gdpr-delete", [503, 204]),
            _settings("hubspot", "token"),
            ("POST", {"objectId": EMAIL, "idProperty": "email"}),
        ),
        "salesforce": (
            salesforce,
            Vendor(
                lambda r: httpx.Response(204) if "Individual" in r.url.path else None,
                f"/services/data/v60.0/sobjects/Lead/Inkbridge_Lead_Id__c/{LEAD}",
                [503, 204],
            ),
            _settings("salesforce", "client_secret", None, client_id="c", login_url=BASE),
            ("DELETE", None),
        ),
        "dynamics": (
            dynamics,
            Vendor(_nothing, f"/api/data/v9.2/contacts(inkbridge_leadid='{LEAD}')", [503, 204]),
            _settings(
                "dynamics", "client_secret", tenant_id="t", client_id="c", token_url=f"{BASE}/token"
            ),
            ("DELETE", None),
        ),
        "pipedrive": (
            pipedrive,
            Vendor(
                _search_answer(
                    "/api/v2/persons/search",
                    {"success": True, "data": {"items": [{"item": {"id": 7, "emails": [EMAIL]}}]}},
                ),
                "/api/v2/persons/7",
                [503, 200],
            ),
            _settings("pipedrive", "api_token", key_field="k"),
            ("DELETE", None),
        ),
        "mautic": (
            mautic,
            Vendor(
                _search_answer("/api/contacts", {"total": 1, "contacts": {"9": {"id": 9}}}),
                "/api/contacts/9/delete",
                [503, 200],
            ),
            _settings("mautic", "password", username="u"),
            ("DELETE", None),
        ),
    }


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERASE_SECRET", "s3cret")


@pytest.mark.parametrize("name", ["hubspot", "salesforce", "dynamics", "pipedrive", "mautic"])
async def test_an_erasure_is_retried_after_a_5xx_and_is_done_when_the_person_is_gone(
    name: str,
) -> None:
    build, vendor, settings, (method, body) = _cases()[name]
    connector = _build(build, vendor, **settings)

    with pytest.raises(RetryableError):
        await connector.apply([erasure()])
    second = await connector.apply([erasure()])
    third = await connector.apply([erasure()])  # a replay: the vendor answers 404

    assert second.results[0].ok and third.results[0].ok
    calls = vendor.erasure_calls()
    assert [c[0] for c in calls] == [method] * 3
    assert all(c[2] == body for c in calls)


def _marketo_vendor(skip_reason: str | None) -> Vendor:
    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/rest/v1/leads.json":
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form["filterType"] == "email" and form["filterValues"] == EMAIL
            return httpx.Response(200, json={"success": True, "result": [{"id": 41}]})
        return None

    vendor = Vendor(answer, "/rest/v1/leads/delete.json", [])

    def delete(request: httpx.Request) -> httpx.Response:
        if request.url.path != vendor.erase_path:
            return vendor(request)
        vendor.calls.append(("POST", vendor.erase_path, json.loads(request.content)))
        result: dict[str, Any] = {"id": 41, "status": "deleted"}
        if skip_reason is not None:
            result = {"id": 41, "status": "skipped", "reasons": [{"code": skip_reason}]}
        return httpx.Response(200, json={"success": True, "result": [result]})

    vendor.__call__ = delete  # type: ignore[method-assign]
    return vendor


@pytest.mark.parametrize(("reason", "ok"), [(None, True), ("1004", True), ("1003", False)])
async def test_marketo_deletes_the_leads_found_by_email(reason: str | None, ok: bool) -> None:
    vendor = _marketo_vendor(reason)
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: vendor.__call__(r)))
    settings = DestinationSettings.model_validate(
        _settings("marketo", "client_secret", client_id="c")
    )
    result = await marketo("dest", settings, client).apply([erasure()])

    assert result.results[0].ok is ok
    assert vendor.erasure_calls() == [("POST", vendor.erase_path, {"input": [{"id": 41}]})]


async def test_an_erasure_in_a_batch_runs_after_the_other_changes() -> None:
    vendor = Vendor(
        lambda r: httpx.Response(200, json={"status": "COMPLETE", "results": []}),
        "/crm/v3/objects/contacts/gdpr-delete",
        [204],
    )
    connector = _build(
        hubspot, vendor, kind="hubspot", url=BASE, credentials={"token": "env:ERASE_SECRET"}
    )
    consent = Change(
        2, f"lead:{LEAD}", "contact.consent", "f2", {"lead": {"id": LEAD, "email": EMAIL}}, None
    )
    await connector.apply([erasure(1), consent])

    assert vendor.calls[-1][1] == "/crm/v3/objects/contacts/gdpr-delete"
