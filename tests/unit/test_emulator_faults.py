"""One fault model for every emulator: the same ``/_faults`` body, the same counting down, each
vendor's own error format, and the same ``Chaos`` class as the sandbox provider."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import inkbridge
import inkbridge_emulators
from inkbridge.sandbox import faults as sandbox_faults
from inkbridge.sandbox import provider as sandbox_provider
from inkbridge_emulators.dynamics import create_dynamics_app
from inkbridge_emulators.faults import Chaos, FaultGate
from inkbridge_emulators.hubspot import create_hubspot_app
from inkbridge_emulators.marketo import create_marketo_app
from inkbridge_emulators.mautic import create_mautic_app
from inkbridge_emulators.pipedrive import create_pipedrive_app
from inkbridge_emulators.salesforce import create_salesforce_app


class Counter:
    faulted_total = 0


def render(mode: str, retry_after: float | None) -> Response:
    status = {"error500": 500, "down": 503, "rate_limit": 429, "timeout": 504}[mode]
    return JSONResponse({"mode": mode, "retry_after": retry_after}, status_code=status)


def gated_app(gate: FaultGate, counter: Counter) -> Starlette:
    async def data(request: Request) -> Response:
        return (await gate.suffer(request, counter)) or JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/data", data, methods=["GET"]),
            Route("/_faults", gate.endpoint, methods=["GET", "POST"]),
        ]
    )


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator")


async def test_a_counted_fault_fails_that_many_requests_then_the_api_answers_again() -> None:
    gate, counter = FaultGate(render), Counter()
    async with client_of(gated_app(gate, counter)) as api:
        await api.post("/_faults", json={"mode": "error500", "count": 2})
        statuses = [(await api.get("/data")).status_code for _ in range(3)]
        plan = (await api.get("/_faults")).json()
    assert statuses == [500, 500, 200]
    assert counter.faulted_total == 2
    assert plan == {"mode": "ok", "remaining": None, "delay": None, "retry_after": None}


async def test_a_rate_limit_fault_tells_the_vendors_default_wait_unless_given_one() -> None:
    gate = FaultGate(render, rate_limit_retry_after=2.0)
    async with client_of(gated_app(gate, Counter())) as api:
        await api.post("/_faults", json={"mode": "rate_limit", "count": 1})
        default = (await api.get("/data")).json()
        await api.post("/_faults", json={"mode": "rate_limit", "count": 1, "retry_after": 7})
        given = (await api.get("/data")).json()
    assert default == {"mode": "rate_limit", "retry_after": 2.0}
    assert given == {"mode": "rate_limit", "retry_after": 7.0}


async def test_a_slow_fault_delays_the_answer_but_does_not_fail_it() -> None:
    gate, counter = FaultGate(render), Counter()
    async with client_of(gated_app(gate, counter)) as api:
        await api.post("/_faults", json={"mode": "slow", "count": 1, "delay": 0.01})
        answer = await api.get("/data")
    assert answer.status_code == 200
    assert counter.faulted_total == 1


@pytest.mark.parametrize(
    "body", [{"mode": "explode"}, {"mode": "down", "count": 0}, {"mode": "ok", "typo": 1}, "[]"]
)
async def test_a_bad_fault_body_is_refused_and_the_plan_is_kept(body: Any) -> None:
    gate = FaultGate(render)
    async with client_of(gated_app(gate, Counter())) as api:
        await api.post("/_faults", json={"mode": "down"})
        refused = await api.post("/_faults", json=body)
        plan = (await api.get("/_faults")).json()
    assert refused.status_code == 400
    assert plan["mode"] == "down"


# Each destination emulator with one of its data-API requests (no credentials needed: faults
# come before authentication, as a vendor's gateway fails before its API does).
EMULATORS: dict[str, tuple[Callable[[], Starlette], str, str]] = {
    "hubspot": (create_hubspot_app, "POST", "/crm/v3/objects/contacts/batch/upsert"),
    "salesforce": (create_salesforce_app, "GET", "/services/data/v60.0/query?q=x"),
    "dynamics": (create_dynamics_app, "GET", "/api/data/v9.2/contacts"),
    "marketo": (create_marketo_app, "GET", "/rest/v1/leads.json"),
    "mautic": (create_mautic_app, "GET", "/api/contacts"),
    "pipedrive": (create_pipedrive_app, "GET", "/api/v2/deals/1"),
}


@pytest.mark.parametrize("vendor", sorted(EMULATORS))
async def test_every_destination_emulator_takes_the_same_fault_plan(vendor: str) -> None:
    create, method, path = EMULATORS[vendor]
    async with client_of(create()) as api:
        accepted = await api.post("/_faults", json={"mode": "down", "count": 1, "retry_after": 3})
        failed = await api.request(method, path)
        again = await api.request(method, path)
        plan = (await api.get("/_faults")).json()
    assert accepted.status_code == 200
    assert failed.status_code == 503
    assert again.status_code != 503
    assert plan["mode"] == "ok"


def test_the_emulators_and_the_sandbox_provider_share_one_chaos_class() -> None:
    roots = [Path(inkbridge.__file__).parent, Path(inkbridge_emulators.__file__).parent]
    defined = [
        f"{path.name}:{node.lineno}"
        for root in roots
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name == "Chaos"
    ]
    assert len(defined) == 1 and defined[0].startswith("faults.py:")
    assert Chaos is sandbox_faults.Chaos is sandbox_provider.Chaos
