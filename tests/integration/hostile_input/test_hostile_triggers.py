"""Hostile `/v1/triggers/{name}` requests (see ``support``): bad signatures, bodies and sizes
for the Standard Webhooks and HubSpot triggers; the valid triggers the cases start from are
queued."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from inkbridge.vendor_http.signing import signed_headers as standard_signed_headers
from tests.support.signers import STANDARD_SECRET

from .support import HUBSPOT_SECRET, JSON, MAX_BODY, Stack, assert_refused_without_change


def crm_trigger(body: bytes, secret: str = STANDARD_SECRET) -> dict[str, Any]:
    headers = standard_signed_headers(secret, f"msg_{uuid.uuid4().hex}", int(time.time()), body)
    return {"content": body, "headers": {**JSON, **headers}}


def hubspot_trigger(body: bytes, secret: str = HUBSPOT_SECRET) -> dict[str, Any]:
    stamp = str(int(time.time() * 1000))
    uri = "http://127.0.0.1:8000/v1/triggers/hubspot"
    digest = hmac.new(
        secret.encode(), b"POST" + uri.encode() + body + stamp.encode(), hashlib.sha256
    )
    headers = {
        "x-hubspot-signature-v3": base64.b64encode(digest.digest()).decode(),
        "x-hubspot-request-timestamp": stamp,
    }
    return {"content": body, "headers": {**JSON, **headers}}


def _deal(**data: Any) -> bytes:
    fields = {"deal_id": "d-1", "stage": "won", "email": "deal@example.com", **data}
    return json.dumps({"type": "deal.stage_reached", "data": fields}).encode()


def _hubspot_event(**changes: Any) -> dict[str, Any]:
    event = {
        "subscriptionType": "deal.propertyChange",
        "propertyName": "dealstage",
        "propertyValue": "contractsent",
        "objectId": 42,
        "occurredAt": 1772446542000,
    }
    return {**event, **changes}


TRIGGER_CASES: tuple[tuple[str, str, Callable[[], dict[str, Any]], int], ...] = (
    ("unknown trigger", "nobody", lambda: crm_trigger(_deal()), 404),
    (
        "signed with another secret",
        "crm",
        lambda: crm_trigger(_deal(), secret="whsec_" + "A" * 32),
        401,
    ),
    ("unsigned", "crm", lambda: {"content": _deal(), "headers": JSON}, 401),
    ("nests 100k deep", "crm", lambda: crm_trigger(b"[" * 100_000 + b"]" * 100_000), 400),
    (
        "duplicate key",
        "crm",
        lambda: crm_trigger(_deal()[:-1] + b',"type":"deal.stage_reached"}'),
        400,
    ),
    ("lone surrogate in deal_id", "crm", lambda: crm_trigger(_deal(deal_id="\ud800")), 400),
    (
        "invalid UTF-8",
        "crm",
        lambda: crm_trigger(_deal(deal_id="d").replace(b'"d"', b'"\xff"')),
        400,
    ),
    ("NaN deal id", "crm", lambda: crm_trigger(_deal().replace(b'"d-1"', b"NaN")), 400),
    ("deal id of 10,000 characters", "crm", lambda: crm_trigger(_deal(deal_id="d" * 10_000)), 400),
    ("deal id as an object", "crm", lambda: crm_trigger(_deal(deal_id={"a": 1})), 400),
    ("email as a list", "crm", lambda: crm_trigger(_deal(email=["a@example.com"])), 400),
    ("truncated JSON", "crm", lambda: crm_trigger(_deal()[:15]), 400),
    ("array instead of object", "crm", lambda: crm_trigger(b"[" + _deal() + b"]"), 400),
    ("body over the size limit", "crm", lambda: crm_trigger(_deal(pad="p" * MAX_BODY)), 413),
    (
        "HubSpot: signed with another secret",
        "hubspot",
        lambda: hubspot_trigger(json.dumps([_hubspot_event()]).encode(), "other"),
        401,
    ),
    (
        "HubSpot: object instead of array",
        "hubspot",
        lambda: hubspot_trigger(json.dumps(_hubspot_event()).encode()),
        400,
    ),
    (
        "HubSpot: duplicate key",
        "hubspot",
        lambda: hubspot_trigger(json.dumps([_hubspot_event()]).encode()[:-2] + b',"objectId":43}]'),
        400,
    ),
    (
        "HubSpot: objectId as an object",
        "hubspot",
        lambda: hubspot_trigger(json.dumps([_hubspot_event(objectId={"id": 1})]).encode()),
        400,
    ),
    (
        "HubSpot: Infinity as objectId",
        "hubspot",
        lambda: hubspot_trigger(
            json.dumps([_hubspot_event(objectId=0)])
            .encode()
            .replace(b'"objectId": 0', b'"objectId": Infinity')
        ),
        400,
    ),
)


@pytest.mark.parametrize(
    ("name", "build", "status"),
    [pytest.param(name, build, status, id=case) for case, name, build, status in TRIGGER_CASES],
)
async def test_a_hostile_trigger_is_refused(
    stack: Stack,
    client: httpx.AsyncClient,
    name: str,
    build: Callable[[], dict[str, Any]],
    status: int,
) -> None:
    request = build()
    await assert_refused_without_change(
        stack, lambda: client.post(f"/v1/triggers/{name}", **request), status
    )


async def test_the_valid_triggers_the_cases_start_from_are_queued(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    crm = await client.post("/v1/triggers/crm", **crm_trigger(_deal(deal_id=uuid.uuid4().hex)))
    hubspot_body = json.dumps([_hubspot_event(objectId=int(time.time()))]).encode()
    hubspot = await client.post("/v1/triggers/hubspot", **hubspot_trigger(hubspot_body))
    assert (crm.status_code, crm.json()) == (200, {"queued": 1})
    assert (hubspot.status_code, hubspot.json()) == (200, {"queued": 1})
