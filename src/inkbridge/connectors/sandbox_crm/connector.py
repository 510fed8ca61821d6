"""The destination connector for the sandbox CRM and sandbox marketing tool (``sandbox.crm``).

Each change becomes one upsert input keyed by the record key inkbridge owns, carrying the
envelope's state and milestones, the lead's contact fields, its frozen first-touch attribution
and, for a go-live test lead, the test mark (``inkbridge_test``); a batch goes out as one
``POST /records/batch/upsert``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import httpx

from inkbridge.connectors.base import BatchResult, Change, ChangeResult, checked_batch
from inkbridge.connectors.fields import first_touch_fields
from inkbridge.connectors.outbound import as_mapping, text
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.responses import raise_for_answer, send

VENDOR_MAX_BATCH = 100
LAST_FACT = "inkbridge_last_fact"
TEST_MARK = "inkbridge_test"
MAX_RECORD_KEY = 255


def record_properties(change: Change) -> dict[str, str]:
    """The CRM properties one change sets. Missing values are left out rather than sent empty,
    so a sparse change never blanks a field an earlier one filled."""
    record = change.record
    envelope, lead = record.envelope, record.lead_or_empty
    props: dict[str, str | None] = {
        "inkbridge_status": envelope.state,
        "inkbridge_envelope_id": envelope.id,
        "inkbridge_provider": envelope.provider,
        "inkbridge_provider_envelope_id": envelope.provider_envelope_id,
        "inkbridge_template": envelope.template_key,
        "inkbridge_template_version": envelope.template_version,
        "inkbridge_delivery_failed": envelope.delivery_failed,
        "inkbridge_correlation_id": record.correlation_id or text(change.correlation_id),
        "inkbridge_lead_id": envelope.lead_id or lead.id,
        "email": lead.email,
        "owner": lead.owner,
        # The newest fact this record carries: lets a retry after an unknown outcome read back
        # whether the earlier write landed, instead of writing it again.
        LAST_FACT: text(change.idempotency_key),
        TEST_MARK: "true" if record.test else None,
    }
    for milestone, at in envelope.milestones.items():
        props[f"inkbridge_{milestone}"] = at
    # First-touch attribution: the CRM keeps the first value it ever saw (never overwritten).
    props.update(first_touch_fields(lead.first_touch))
    return {key: value for key, value in props.items() if value is not None}


def upsert_input(change: Change) -> dict[str, Any]:
    """One ``inputs[]`` item: id, the facts it carries (for the CRM's write log) and properties."""
    return {
        "id": change.record_key,
        "facts": list(change.fact_keys or (change.idempotency_key,)),
        "properties": record_properties(change),
    }


class SandboxCrmConnector:
    """``Connector`` for the sandbox CRM / marketing emulator (``base_url`` includes its mount)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        max_batch: int = 100,
        service_credential: str | None = None,
    ) -> None:
        self.name = name
        self.max_batch = checked_batch(name, max_batch, VENDOR_MAX_BATCH)
        self._base = base_url.rstrip("/")
        self._url = self._base + "/records/batch/upsert"
        self._client = client
        # The least-privilege sandbox service credential: the upsert and a record read-back.
        self._auth = {"authorization": f"Bearer {service_credential}"} if service_credential else {}

    async def _unapplied(self, change: Change) -> Change | None:
        """What of an uncertain change is still to write: the facts after the record's last
        applied fact (None when all landed). The properties always carry the newest state."""
        response = await send(
            self._client,
            self.name,
            "GET",
            f"{self._base}/records/{change.record_key}",
            headers=self._auth,
        )
        if response.status_code == 404:
            return change
        raise_for_answer(self.name, response)
        last = as_mapping(response.json().get("properties")).get(LAST_FACT)
        facts = list(change.fact_keys or (change.idempotency_key,))
        if last not in facts:
            return change
        remaining = facts[facts.index(last) + 1 :]
        return dataclasses.replace(change, fact_keys=tuple(remaining)) if remaining else None

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        """Upsert the changes, ``max_batch`` per request.

        A failure of the first request fails the whole call (nothing was written). A failure
        of a later request, when a bigger batch than ``max_batch`` was handed in, is reported
        per change so the written ones are not sent again.
        """
        results: dict[int, ChangeResult] = {}
        sendable: list[Change] = []
        for change in changes:
            if not change.record_key or len(change.record_key) > MAX_RECORD_KEY:
                results[change.outbox_id] = ChangeResult(
                    change.outbox_id, ok=False, error="record key must be 1..255 characters"
                )
            elif change.uncertain:
                rest = await self._unapplied(change)
                if rest is None:
                    results[change.outbox_id] = ChangeResult(change.outbox_id, ok=True)
                else:
                    sendable.append(rest)
            else:
                sendable.append(change)
        retry_after: float | None = None
        requests = 0
        for start in range(0, len(sendable), self.max_batch):
            chunk = sendable[start : start + self.max_batch]
            try:
                requests += 1
                await self._upsert(chunk)
            except (RetryableError, PermanentError) as exc:
                if start == 0 and not results:
                    raise
                retryable = isinstance(exc, RetryableError)
                if isinstance(exc, RetryableError):
                    retry_after = exc.retry_after
                for change in sendable[start:]:
                    results[change.outbox_id] = ChangeResult(
                        change.outbox_id, ok=False, retryable=retryable, error=exc.reason
                    )
                break
            for change in chunk:
                results[change.outbox_id] = ChangeResult(change.outbox_id, ok=True)
        ordered = [results[c.outbox_id] for c in changes]
        return BatchResult(ordered, retry_after=retry_after, meta={"requests": requests})

    async def _upsert(self, chunk: Sequence[Change]) -> None:
        body = {"inputs": [upsert_input(change) for change in chunk]}
        response = await send(
            self._client, self.name, "POST", self._url, json=body, headers=self._auth
        )
        raise_for_answer(self.name, response)
