"""Each vendor's erasure against its emulator (the vendor's wire format, not a script): after the
emulator failed the first calls (its fault injection), the person is gone, the emulator logged
exactly one effective delete, and a replay of the erasure still succeeds (the vendor answers
"not found", which counts as erased)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Change, Connector
from inkbridge.connectors.dynamics.connector import from_settings as dynamics
from inkbridge.connectors.marketo.settings import from_settings as marketo
from inkbridge.connectors.mautic.connector import from_settings as mautic
from inkbridge.connectors.pipedrive.connector import from_settings as pipedrive
from inkbridge.connectors.salesforce.connector import from_settings as salesforce
from inkbridge.errors import RetryableError
from inkbridge_emulators.dynamics import create_dynamics_app
from inkbridge_emulators.marketo import create_marketo_app
from inkbridge_emulators.mautic import create_mautic_app
from inkbridge_emulators.pipedrive import create_pipedrive_app
from inkbridge_emulators.salesforce import create_salesforce_app

from .vendor_tables import settings_with_secret

BASE = "http://vendor.test"
LEAD, EMAIL, OTHER = "lead_1", "ada@example.com", "bo@example.com"
SECRET = "vendor-secret"


def erasure() -> Change:
    payload = {"lead": {"id": LEAD, "email": EMAIL}}
    return Change(1, f"lead:{LEAD}", "lead.erased", f"lead:{LEAD}:erased", payload, None)


@dataclass
class Case:
    """One vendor: its emulator with the person and a bystander, its connector, what it holds."""

    app: Starlette
    build: Callable[[str, DestinationSettings, httpx.AsyncClient], Connector]
    settings: dict[str, Any]
    people: Callable[[dict[str, Any]], list[str]]  # the emails the state holds
    effective: int = 1  # deletes that remove a record (Salesforce: the Lead and the Individual)


def _settings(kind: str, credential: str, url: str | None = BASE, **options: str) -> dict[str, Any]:
    return settings_with_secret(kind, credential, "VENDOR_SECRET", url, **options)


async def _salesforce() -> Case:
    app = create_salesforce_app(None, client_secret=SECRET)
    org = app.state.salesforce.org
    for lead_id, email in ((LEAD, EMAIL), ("lead_2", OTHER)):
        individual = org.seed(
            "Individual", {"Inkbridge_Individual_Id__c": lead_id, "LastName": "T"}
        )
        org.seed(
            "Lead",
            {
                "Inkbridge_Lead_Id__c": lead_id,
                "Email": email,
                "LastName": "T",
                "Company": "C",
                "IndividualId": individual,
            },
        )
    # No url: the instance URL comes back with the token from the login URL.
    settings = _settings(
        "salesforce", "client_secret", None, client_id="emulator-connected-app", login_url=BASE
    )

    def people(state: dict[str, Any]) -> list[str]:
        objects = state["objects"]
        leads = [str(r["Email"]) for r in objects.get("Lead", [])]
        return leads + [str(r["Inkbridge_Individual_Id__c"]) for r in objects["Individual"]]

    return Case(app, salesforce, settings, people, effective=2)


async def _dynamics() -> Case:
    app = create_dynamics_app(None, client_secret=SECRET)
    for lead_id, email in ((LEAD, EMAIL), ("lead_2", OTHER)):
        app.state.dynamics.dataverse.seed(
            "contacts", {"inkbridge_leadid": lead_id, "emailaddress1": email}
        )
    settings = _settings(
        "dynamics",
        "client_secret",
        tenant_id="emulator-tenant",
        client_id="emulator-app",
        token_url=f"{BASE}/emulator-tenant/oauth2/v2.0/token",
    )
    return Case(
        app,
        dynamics,
        settings,
        lambda s: [str(c["emailaddress1"]) for c in s["objects"]["contacts"]],
    )


async def _pipedrive() -> Case:
    app = create_pipedrive_app(None, api_token=SECRET)
    for email in (EMAIL, OTHER):
        app.state.emulator.create_person({"name": "T", "emails": [{"value": email}]})
    settings = _settings("pipedrive", "api_token", key_field="k")
    return Case(
        app,
        pipedrive,
        settings,
        lambda s: [str(e["value"]) for p in s["persons"] for e in p["emails"]],
    )


async def _marketo() -> Case:
    app = create_marketo_app(None, client_secret=SECRET)
    await app.state.emulator.upsert_leads("createOrUpdate", "email", [{"email": EMAIL}])
    await app.state.emulator.upsert_leads("createOrUpdate", "email", [{"email": OTHER}])
    settings = _settings("marketo", "client_secret", client_id="marketo-emulator-client")
    return Case(app, marketo, settings, lambda s: [str(x["email"]) for x in s["leads"]])


async def _mautic() -> Case:
    app = create_mautic_app(None, password=SECRET)
    app.state.emulator.new_contacts([{"email": EMAIL}, {"email": OTHER}])
    settings = _settings("mautic", "password", username="inkbridge")
    return Case(
        app,
        mautic,
        settings,
        lambda s: [str(c["fields"]["all"]["email"]) for c in s["contacts"]],
    )


CASES = {
    "salesforce": _salesforce,
    "dynamics": _dynamics,
    "pipedrive": _pipedrive,
    "marketo": _marketo,
    "mautic": _mautic,
}


@pytest.mark.parametrize("mode", ["error500", "timeout"])
@pytest.mark.parametrize("vendor", sorted(CASES))
async def test_the_person_is_deleted_once_after_the_vendor_failed_the_first_calls(
    vendor: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VENDOR_SECRET", SECRET)
    case = await CASES[vendor]()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=case.app), base_url=BASE)
    fault = {"mode": mode, "count": 2, "delay": 0.01}
    assert (await client.post("/_faults", json=fault)).status_code == 200
    connector = case.build("dest", DestinationSettings.model_validate(case.settings), client)

    for _ in range(2):
        with pytest.raises(RetryableError):
            await connector.apply([erasure()])
    done = await connector.apply([erasure()])

    state = (await client.get("/_state")).json()
    assert done.results[0].ok, done.results[0].error
    assert EMAIL not in case.people(state) and LEAD not in case.people(state)
    assert OTHER in case.people(state)
    assert [c["deleted"] for c in state["deletes"]] == [True] * case.effective

    replay = await connector.apply([erasure()])
    state = (await client.get("/_state")).json()
    assert replay.results[0].ok, replay.results[0].error
    assert sum(c["deleted"] for c in state["deletes"]) == case.effective
