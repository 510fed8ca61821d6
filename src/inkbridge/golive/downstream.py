"""What reached a deployment's destinations, as golive reads it: the outbox deliveries of a test
lead (its trace) and, for the sandbox twins mounted in the deployment, the destination's own
write log and record status (``/v1/admin/golive/writes``), so a check can count writes where
they land rather than trust inkbridge's own bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inkbridge.golive.target import Target, TargetError

# A destination has acted on a fact once it acknowledged it (or a newer change that carries it).
SETTLED = {"delivered", "superseded"}


def state_fact(envelope_id: str, state: str) -> str:
    return f"envelope:{envelope_id}:state:{state}"


def destinations(target: Target) -> list[dict[str, Any]] | None:
    """The deployment's destinations as its golive control lists them, or None when it has none
    (an older deployment)."""
    answer = target.client.get("/v1/admin/golive/destinations")
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise TargetError(f"GET /v1/admin/golive/destinations answered {answer.status_code}")
    return list(answer.json()["destinations"])


def readable(target: Target) -> list[str]:
    """The destinations whose write log golive can read."""
    return [d["name"] for d in destinations(target) or [] if d["write_log"]]


def writes(target: Target, destination: str, lead_id: str) -> dict[str, Any]:
    """The destination's writes about the test lead's records, oldest first, and the records'
    status as the destination holds them."""
    return target.get("/v1/admin/golive/writes", destination=destination, lead_id=lead_id)


def deliveries(target: Target, lead: dict[str, Any]) -> list[dict[str, Any]]:
    return list(target.get(f"/v1/trace/{lead['correlation_id']}")["deliveries"])


def wait_settled(
    target: Target, lead: dict[str, Any], wanted: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]] | None:
    """Wait until at least one of the lead's deliveries matches ``wanted`` and every matching
    one is settled; returns them (None on timeout)."""

    def settled() -> list[dict[str, Any]] | None:
        found = [d for d in deliveries(target, lead) if wanted(d)]
        return found if found and all(d["status"] in SETTLED for d in found) else None

    return target.wait_for(settled)


def writes_carrying(log: dict[str, Any], fact: str) -> list[dict[str, Any]]:
    return [w for w in log["writes"] if fact in w["facts"]]
