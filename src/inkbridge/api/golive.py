"""``/v1/admin/golive/*``: what ``inkbridge golive`` needs of a deployment's sandbox destinations,
with the golive scope (or admin). ``GET destinations``: which destinations golive may fault and
whose write log it can read; ``POST faults``: make a destination the deployment marks
``golive_may_fault`` fail (5xx, 429, timeouts, a refused write) for N requests; ``GET writes``: the
writes that reached a sandbox destination, or a destination's sandbox twin (``golive_twin``),
about one test lead (facts, status and test mark, never personal fields); ``POST
dead-letters/replay``: replay one test lead's dead letters.

Only the sandbox destinations mounted in this process (and the twins in its data directory) are
reachable, and only the test namespace's leads are shown or replayed. The fault plan lives in
this process: with several API processes behind a balancer, each has its own."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from inkbridge.access import ADMIN, GOLIVE
from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.config import SANDBOX_DESTINATION_KINDS, DestinationSettings
from inkbridge.connectors.sandbox_crm.connector import TEST_MARK
from inkbridge.errors import NotFaultable, NotFound
from inkbridge.local_site import SANDBOX_CRM_PATH, SANDBOX_MARKETING_PATH
from inkbridge.sandbox.crm import SandboxCrm
from inkbridge.sandbox.crm_store import CrmStore
from inkbridge.sandbox.faults import FaultPlan
from inkbridge.sandbox.twin import open_twin, twin_path
from inkbridge.services.admin import coalescing_destinations
from inkbridge.services.golive_controls import record_fault, replay_test_dead_letters
from inkbridge.services.golive_namespace import find_test_lead
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1/admin/golive", tags=["admin"])

CanGoLive = Annotated[TokenIdentity, Depends(require(ADMIN, GOLIVE))]
MOUNTS = {"sandbox_crm": SANDBOX_CRM_PATH, "sandbox_marketing": SANDBOX_MARKETING_PATH}


class FaultIn(BaseModel):
    """A fault for the next ``count`` requests (``ok`` clears it). ``reject`` refuses writes as
    invalid, a permanent error: what makes a dead letter."""

    model_config = ConfigDict(extra="forbid")
    destination: str = Field(min_length=1, max_length=100)
    mode: Literal["ok", "error500", "rate_limit", "timeout", "down", "reject"]
    count: int = Field(default=1, ge=1, le=100)
    delay: float | None = Field(default=None, ge=0, le=30)  # a timeout's hang, in seconds
    retry_after: float | None = Field(default=None, ge=0, le=30)


class ReplayTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_id: str = Field(min_length=1, max_length=100)


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _mounted_crm(request: Request, dest: DestinationSettings) -> SandboxCrm | None:
    """The sandbox CRM this destination writes to, when it is mounted in this process."""
    if dest.kind not in SANDBOX_DESTINATION_KINDS or dest.url is not None:
        return None
    app = getattr(request.app.state, "sandbox_apps", {}).get(MOUNTS[dest.kind])
    crm = getattr(getattr(app, "state", None), "sandbox", None)
    return crm if isinstance(crm, SandboxCrm) else None


def _destination(request: Request, name: str) -> tuple[DestinationSettings, SandboxCrm | None]:
    dest = _container(request).settings.destinations.get(name)
    if dest is None:
        raise NotFound("destination", name)
    return dest, _mounted_crm(request, dest)


@router.get("/destinations")
def list_destinations(request: Request, _: CanGoLive) -> dict[str, Any]:
    """Every destination: its kind and regions, whether golive may fault it, whether its
    write log is readable here and whether a sandbox twin stands in for it (``golive_twin``)."""
    found = []
    for name, dest in _container(request).settings.destinations.items():
        mounted = _mounted_crm(request, dest) is not None
        found.append(
            {
                "name": name,
                "kind": dest.kind,
                "regions": dest.regions,
                "faultable": dest.golive_may_fault and mounted,
                "marked_faultable": dest.golive_may_fault,
                "write_log": mounted or dest.golive_twin is not None,
                "golive_twin": dest.golive_twin,
            }
        )
    return {"destinations": found}


def _fault_state(name: str, crm: SandboxCrm) -> dict[str, Any]:
    return {
        "destination": name,
        "mode": crm.faults.mode,
        "remaining": crm.faults.remaining,
        "reject_next": crm.defects.reject_next,
        "faulted_total": crm.throttle.faulted_total,
    }


@router.post("/faults")
async def set_fault(body: FaultIn, request: Request, who: CanGoLive) -> dict[str, Any]:
    """Set a fault on a destination the deployment marks ``golive_may_fault``; refused (403)
    for any other."""
    dest, crm = _destination(request, body.destination)
    if not dest.golive_may_fault:
        raise NotFaultable(body.destination, "the deployment does not mark it golive_may_fault")
    if crm is None:
        raise NotFaultable(body.destination, "it is not a sandbox destination mounted here")
    if body.mode == "reject":
        crm.defects.reject_next, crm.faults = body.count, FaultPlan()
    elif body.mode == "ok":
        crm.defects.reject_next, crm.faults = 0, FaultPlan()
    else:
        crm.defects.reject_next = 0
        crm.faults = FaultPlan(body.mode, body.count, body.delay, body.retry_after)
    fault = body.model_dump(exclude={"destination"})
    await run_in_threadpool(
        record_fault, _container(request).databases, body.destination, fault, who.actor
    )
    return _fault_state(body.destination, crm)


@router.get("/faults")
def get_fault(
    request: Request, _: CanGoLive, destination: Annotated[str, Query(max_length=100)]
) -> dict[str, Any]:
    crm = _destination(request, destination)[1]
    if crm is None:
        raise NotFaultable(destination, "it is not a sandbox destination mounted here")
    return _fault_state(destination, crm)


@router.get("/writes")
def list_writes(
    request: Request,
    _: CanGoLive,
    destination: Annotated[str, Query(max_length=100)],
    lead_id: Annotated[str, Query(max_length=100)],
) -> dict[str, Any]:
    """Every write that reached the sandbox destination (or the destination's sandbox twin)
    about a test lead's records, oldest first: the record, the facts it carried, the status
    written and whether it carried the test mark; and each record's status as the destination
    holds it."""
    container = _container(request)
    dest = container.settings.destinations.get(destination)
    crm = None if dest is None else _mounted_crm(request, dest)
    if dest is None or (dest.golive_twin is None and crm is None):
        raise NotFound("sandbox destination or twin readable here", destination)
    find_test_lead(container.databases, lead_id)
    if dest.golive_twin is None and crm is not None:
        return {"destination": destination, "twin": None, **_writes_of(crm.store, lead_id)}
    # The twin's store is the worker's file under data_dir: opened for this read only.
    twin = open_twin(twin_path(container.settings.data_dir, destination))
    try:
        found = _writes_of(twin, lead_id)
    finally:
        twin.close()
    return {"destination": destination, "twin": dest.golive_twin, **found}


def _writes_of(store: CrmStore, lead_id: str) -> dict[str, Any]:
    records = store.records_naming(lead_id)
    writes = sorted((w for record in records for w in store.writes(record)), key=lambda w: w["seq"])
    held = [store.record(record) for record in records]
    return {
        "records": [
            {"id": r["id"], "status": r["properties"].get("inkbridge_status")}
            for r in held
            if r is not None
        ],
        "writes": [
            {
                "seq": w["seq"],
                "record": w["record_id"],
                "facts": w["facts"],
                "status": w["properties"].get("inkbridge_status"),
                "test": w["properties"].get(TEST_MARK) == "true",
                "at": w["at"],
            }
            for w in writes
        ],
    }


@router.post("/dead-letters/replay")
async def replay_dead_letters(
    body: ReplayTestIn, request: Request, who: CanGoLive
) -> dict[str, Any]:
    """Replay every dead letter of a go-live test lead (403 for any other lead)."""
    container = _container(request)
    ids = await run_in_threadpool(
        replay_test_dead_letters,
        container.databases,
        body.lead_id,
        coalescing_destinations(container.settings),
        actor=who.actor,
    )
    return {"replayed": ids}
