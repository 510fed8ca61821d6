"""Inbound CRM triggers: a deal reaching a stage creates the envelope for that deal, once.

Intake verifies the CRM's signature (HubSpot ``X-HubSpot-Signature-v3``, or Standard Webhooks
for any other sender), keeps matching events as inbox receipts keyed ``deal:{id}:{stage}`` (so a
repeated or re-sent trigger is one receipt), and answers. The worker later resolves the deal's
lead and creates the envelope with an id derived from the trigger, so a retry never sends twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from inkbridge.config import TriggerSettings, resolve_secret
from inkbridge.domain.delivery_policy import RECEIPT_RETRY
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.errors import (
    InkbridgeError,
    MalformedPayload,
    NotFound,
    SignatureInvalid,
    redacted_error,
)
from inkbridge.providers._common import load_json, load_json_object
from inkbridge.services.envelopes import Envelopes
from inkbridge.store import audit, receipts
from inkbridge.store import leads as lead_store
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt
from inkbridge.store.receipts import ReceiptRecord
from inkbridge.vendor_http import signing

log = structlog.get_logger("inkbridge.triggers")


@dataclass(frozen=True)
class StageReached:
    deal_id: str
    stage: str
    occurred_at: str
    lead_id: str | None = None
    email: str | None = None


def verify_hubspot_v3(
    secrets: list[str],
    method: str,
    uri: str,
    body: bytes,
    headers: dict[str, str],
    now: datetime,
    tolerance_seconds: int = 300,
) -> None:
    """``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(app secret, method + uri + body + ts))."""
    signature = headers.get("x-hubspot-signature-v3", "")
    stamp = headers.get("x-hubspot-request-timestamp", "")
    if not signature or not stamp.isdigit():
        raise SignatureInvalid("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if abs(now.timestamp() * 1000 - int(stamp)) > tolerance_seconds * 1000:
        raise SignatureInvalid("X-HubSpot-Request-Timestamp is outside the tolerance")
    content = method.encode() + uri.encode() + body + stamp.encode()
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret.encode(), content, hashlib.sha256).digest())
        if hmac.compare_digest(expected, signature.encode()):
            return
    raise SignatureInvalid("no signature matched")


def _short_text(value: object, field: str, limit: int = 200) -> str:
    """A scalar id as text of 1 to ``limit`` characters; anything else is ``MalformedPayload``."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedPayload(f"{field} must be a string or an integer")
    text = str(value)
    if not 0 < len(text) <= limit:
        raise MalformedPayload(f"{field} must be 1 to {limit} characters")
    return text


def _optional_text(value: object, field: str, limit: int) -> str | None:
    return None if value is None else _short_text(value, field, limit)


def parse_hubspot(body: bytes, stage: str) -> list[StageReached]:
    """HubSpot posts a JSON array of events; keep deal stage changes to the wanted stage."""
    events = load_json(body)
    if not isinstance(events, list):
        raise MalformedPayload("a HubSpot webhook body is a JSON array")
    found = []
    for event in events:
        if not isinstance(event, dict):
            raise MalformedPayload("each HubSpot event must be an object")
        if (
            event.get("subscriptionType") in ("deal.propertyChange", "object.propertyChange")
            and event.get("propertyName") == "dealstage"
            and event.get("propertyValue") == stage
            and event.get("objectId") is not None
        ):
            occurred = event.get("occurredAt")
            found.append(
                StageReached(
                    deal_id=_short_text(event["objectId"], "objectId"),
                    stage=stage,
                    occurred_at=_optional_text(occurred, "occurredAt", 40) or "",
                )
            )
    return found


def parse_generic(body: bytes, stage: str) -> list[StageReached]:
    """``{"type": "deal.stage_reached", "data": {deal_id, stage, lead_id | email}}``."""
    payload = load_json_object(body)
    data = payload.get("data")
    if payload.get("type") != "deal.stage_reached" or not isinstance(data, dict):
        return []
    if not data.get("deal_id") or data.get("stage") != stage:
        return []
    if not data.get("lead_id") and not data.get("email"):
        raise MalformedPayload("data needs lead_id or email to find the signer")
    return [
        StageReached(
            deal_id=_short_text(data["deal_id"], "data.deal_id"),
            stage=stage,
            occurred_at=_optional_text(data.get("occurred_at"), "data.occurred_at", 40) or "",
            lead_id=_optional_text(data.get("lead_id"), "data.lead_id", 40),
            email=_optional_text(data.get("email"), "data.email", 320),
        )
    ]


def trigger_envelope_id(name: str, deal_id: str, stage: str) -> str:
    digest = hashlib.sha256(f"{name}:{deal_id}:{stage}".encode()).hexdigest()
    return f"env_t{digest[:26]}"


async def _hubspot_deal_contact_email(
    http: httpx.AsyncClient, trigger: TriggerSettings, deal_id: str
) -> str | None:
    """The email of the first contact associated with a HubSpot deal."""
    if not trigger.api_token:
        return None
    auth = {"Authorization": f"Bearer {resolve_secret(trigger.api_token).get_secret_value()}"}
    base = trigger.api_url.rstrip("/")
    deal = await http.get(
        f"{base}/crm/v3/objects/deals/{deal_id}", params={"associations": "contacts"}, headers=auth
    )
    if deal.status_code != 200:
        return None
    results = deal.json().get("associations", {}).get("contacts", {}).get("results", [])
    if not results:
        return None
    contact = await http.get(
        f"{base}/crm/v3/objects/contacts/{results[0]['id']}",
        params={"properties": "email"},
        headers=auth,
    )
    if contact.status_code != 200:
        return None
    email = contact.json().get("properties", {}).get("email")
    return str(email) if email else None


def _backoff(receipt: ReceiptRecord) -> timedelta:
    return timedelta(seconds=RECEIPT_RETRY.delay(receipt.attempts))


@dataclass(frozen=True)
class Triggers:
    """CRM deal triggers: intake verifies and queues a delivery; the worker turns each into an
    envelope. Built once by bootstrap with the regions' databases, the HTTP client (HubSpot
    contact look-ups), the configured triggers, the envelopes service and the lease length."""

    databases: Databases
    http: httpx.AsyncClient
    triggers: Mapping[str, TriggerSettings]
    envelopes: Envelopes
    lease_seconds: float

    def intake(
        self,
        name: str,
        trigger: TriggerSettings,
        *,
        method: str,
        uri: str,
        headers: dict[str, str],
        body: bytes,
    ) -> int:
        """Verify and keep a trigger delivery; returns how many new deal triggers were queued."""
        now = datetime.now(UTC)
        secrets = [resolve_secret(ref).get_secret_value() for ref in trigger.secrets]
        if not secrets:
            raise SignatureInvalid("the trigger has no secret configured")
        if trigger.kind == "hubspot":
            verify_hubspot_v3(secrets, method, uri, body, headers, now, trigger.tolerance_seconds)
            found = parse_hubspot(body, trigger.stage)
        else:
            signing.verify(
                [resolve_secret(ref) for ref in trigger.secrets],
                headers,
                body,
                now,
                trigger.tolerance_seconds,
            )
            found = parse_generic(body, trigger.stage)
        db = self.databases.home
        queued = 0
        with db.transaction() as conn:
            for item in found:
                _, inserted = insert_receipt(
                    conn,
                    ReceiptRow(
                        region=db.region,
                        connection=f"trigger:{name}",
                        dedup_key=f"deal:{item.deal_id}:{item.stage}",
                        source="trigger",
                        content_type="application/json",
                        headers={},
                        body=json.dumps(asdict(item)).encode(),
                        received_at=now,
                    ),
                )
                queued += inserted
        return queued

    async def _lead_of(self, trigger: TriggerSettings, item: StageReached) -> str:
        if item.lead_id:
            return item.lead_id
        email = item.email
        if email is None and trigger.kind == "hubspot":
            email = await _hubspot_deal_contact_email(self.http, trigger, item.deal_id)
        if email:
            for db in self.databases:
                with db.reader() as conn:
                    lead = lead_store.latest_by_email(conn, email)
                if lead is not None:
                    return str(lead["id"])
        raise NotFound("lead for deal", item.deal_id)

    async def process_trigger(self, db: RegionDatabase, receipt: ReceiptRecord) -> str:
        """Create the deal's envelope (idempotently) and settle the receipt."""
        name = receipt.connection.removeprefix("trigger:")
        trigger = self.triggers.get(name)
        now = datetime.now(UTC)
        if trigger is None:
            with db.transaction() as conn:
                receipts.settle(
                    conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error="unknown trigger"
                )
            return "failed"
        item = StageReached(**json.loads(receipt.body))
        try:
            lead_id = await self._lead_of(trigger, item)
            view = await self.envelopes.create_envelope(
                lead_id=lead_id,
                template_key=trigger.template_key,
                connection=trigger.connection,
                envelope_id=trigger_envelope_id(name, item.deal_id, item.stage),
                extra_metadata={"inkbridge_deal_id": item.deal_id},
            )
        except NotFound as exc:
            with db.transaction() as conn:
                # The kind only: the identifier may be the signer's email.
                error = f"{exc.kind} not found"
                receipts.settle(conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error=error)
            return "failed"
        except InkbridgeError as exc:
            with db.transaction() as conn:
                error = redacted_error(exc)
                receipts.release(conn, receipt.id, error=error, retry_at=now + _backoff(receipt))
            return "retry"
        with db.transaction() as conn:
            receipts.settle(
                conn,
                receipt.id,
                status=ReceiptStatus.DONE,
                now=now,
                correlation_id=view["correlation_id"],
            )
            audit.record(
                conn,
                region=db.region,
                actor="worker",
                action="trigger:deal:envelope_created",
                subject_id=view["id"],
                correlation_id=view["correlation_id"],
                details={"trigger": name, "deal_id": item.deal_id, "stage": item.stage},
            )
        log.info("trigger_processed", trigger=name, envelope_id=view["id"])
        return "done"

    async def process_triggers(self, db: RegionDatabase, limit: int = 20) -> int:
        with db.transaction() as conn:
            claimed = receipts.claim(
                conn,
                limit=limit,
                lease_seconds=self.lease_seconds,
                now=datetime.now(UTC),
                triggers=True,
            )
        for receipt in claimed:
            await self.process_trigger(db, receipt)
        return len(claimed)
