"""The Marketo destination: leads upserted by a lookup field, consent as ``unsubscribed``,
journeys as static-list memberships or requested campaigns.

Calls go through ``MarketoApi``, which reads Marketo's errors out of its HTTP 200 answers;
per-record ``skipped`` results become per-change failures here.

Marketo cannot write a field only when it is empty, so first-touch fields are read first (one
read per round of upserts) and sent only where the lead has none. Field names default to the
camelCase ``inkbridge…`` custom fields below, overridable in ``[destinations.NAME.fields]``.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import httpx

from inkbridge.connectors import kinds
from inkbridge.connectors.base import BatchResult, Change, ChangeResult, checked_batch
from inkbridge.connectors.fields import (
    FIRST_TOUCH_PREFIX,
    canonical_fields,
    map_split,
)
from inkbridge.connectors.marketing import (
    ids,
    journey_refusal,
    marketing_email_status,
    rounds_by_key,
)
from inkbridge.connectors.marketo.api import TRANSIENT_CODES, MarketoApi, MarketoLogin
from inkbridge.connectors.outbound import as_mapping
from inkbridge.domain.attribution import CLICK_IDS, UTM_FIELDS
from inkbridge.domain.lifecycle import MILESTONES
from inkbridge.errors import PermanentError, RetryableError

VENDOR_MAX_BATCH = 300
MAX_CAMPAIGN_LEADS = 100
SUPPORTED = frozenset(
    {
        kinds.ENVELOPE_STATE,
        kinds.LEAD_UPDATED,
        kinds.CONTACT_CONSENT,
        kinds.JOURNEY_ENTER,
        kinds.MARKETING_SUPPRESS,
    }
)
LOCK_STRIPES = 64

_INKBRIDGE_FIELDS = (
    "envelope_id",
    "envelope_status",
    "provider",
    "provider_envelope_id",
    "template",
    "template_version",
    "delivery_failed",
    "document_url",
    "correlation_id",
    "lead_id",
    *MILESTONES,
    *(FIRST_TOUCH_PREFIX + name for name in (*UTM_FIELDS, "referrer", "landing_page", "at")),
    *(FIRST_TOUCH_PREFIX + name for name in CLICK_IDS),
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


DEFAULT_FIELDS: Mapping[str, str] = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "company": "company",
    **{name: _camel("inkbridge_" + name) for name in _INKBRIDGE_FIELDS},
}


@dataclass(frozen=True)
class JourneyTarget:
    """Where a journey lands: a static list, a requested campaign, or both."""

    list_id: int | None = None
    campaign_id: int | None = None


@dataclass
class _Pending:
    change: Change
    key: str
    record: dict[str, Any]
    first_touch: dict[str, str]
    list_ids: tuple[int, ...] = ()
    campaign_ids: tuple[int, ...] = ()
    lead_id: int | None = None
    failed: ChangeResult | None = field(default=None)


def _empty(value: Any) -> bool:
    return value is None or value == ""


class MarketoConnector:
    """``Connector`` for Marketo (up to 300 changes per batch, one upsert call per round)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        lookup_field: str = "email",
        fields: Mapping[str, str] | None = None,
        journeys: Mapping[str, JourneyTarget] | None = None,
        suppress_list_id: int | None = None,
        max_batch: int = VENDOR_MAX_BATCH,
        **login: Unpack[MarketoLogin],
    ) -> None:
        self.name = name
        self.max_batch = checked_batch(name, max_batch, VENDOR_MAX_BATCH)
        self._api = MarketoApi(name, base_url, client, **login)
        self._lookup_field = lookup_field
        self._fields = dict(fields or {})
        self._journeys = dict(journeys or {})
        self._suppress_list_id = suppress_list_id
        self._stripes = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    # -- preparing changes ---------------------------------------------------------------------

    def _prepare(self, change: Change) -> _Pending:
        """The lead write one change makes; a ``failed`` result when it cannot be sent."""
        record = change.record
        fields = canonical_fields(record)
        lookup_source = "email" if self._lookup_field == "email" else "lead_id"
        key_value = fields.get(lookup_source, "")
        pending = _Pending(change, key_value.strip().lower(), {}, {})
        problem: str | None = None
        if change.kind not in SUPPORTED:
            problem = f"{self.name} does not take {change.kind} changes"
        elif not key_value:
            problem = f"change has no {lookup_source} to find the Marketo lead by"
        if change.kind == kinds.JOURNEY_ENTER and problem is None:
            target = self._journeys.get(record.journey)
            problem = journey_refusal(record, target, self.name)
            if target is not None:
                pending.list_ids = ids(target.list_id)
                pending.campaign_ids = ids(target.campaign_id)
        if problem is not None:
            pending.failed = ChangeResult(change.outbox_id, ok=False, error=problem)
            return pending
        plain, pending.first_touch = map_split(fields, DEFAULT_FIELDS, self._fields)
        lead: dict[str, Any] = {**plain, self._lookup_field: key_value}
        pending.record = lead
        if change.kind == kinds.CONTACT_CONSENT:
            status = marketing_email_status(record)
            if status is not None:
                lead["unsubscribed"] = status != "granted"
        elif change.kind == kinds.MARKETING_SUPPRESS:
            lead["unsubscribed"] = True
            if self._suppress_list_id is not None:
                pending.list_ids = (self._suppress_list_id,)
        return pending

    # -- applying ------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        """Upsert the batch in rounds (one change per lead per round), then add leads to lists
        and request campaigns. A failure before anything was written is raised for the whole
        call; after that the changes not yet done get the failure as their result."""
        self._api.requests = 0
        prepared = [self._prepare(change) for change in changes]
        results = {p.change.outbox_id: p.failed for p in prepared if p.failed is not None}
        sendable = [p for p in prepared if p.failed is None]
        stripes = sorted({zlib.crc32(p.key.encode()) % LOCK_STRIPES for p in sendable})
        rounds = rounds_by_key(sendable)
        retry_after: float | None = None
        wrote = False
        # Serialise per lead across concurrent apply calls too (see rounds_by_key).
        for index in stripes:
            await self._stripes[index].acquire()
        try:
            for batch in rounds:
                await self._fill_first_touch(batch)
                await self._upsert(batch)
                wrote = True
                await self._run_actions(batch)
                for item in batch:
                    results.setdefault(
                        item.change.outbox_id,
                        item.failed or ChangeResult(item.change.outbox_id, ok=True),
                    )
        except (RetryableError, PermanentError) as exc:
            if not wrote and not results:
                raise
            retryable = isinstance(exc, RetryableError)
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            for item in sendable:
                results.setdefault(
                    item.change.outbox_id,
                    item.failed
                    or ChangeResult(
                        item.change.outbox_id, ok=False, retryable=retryable, error=exc.reason
                    ),
                )
        finally:
            for index in stripes:
                self._stripes[index].release()
        ordered = [results[change.outbox_id] for change in changes]
        meta = {"requests": self._api.requests, "rounds": len(rounds)}
        return BatchResult(ordered, retry_after=retry_after, meta=meta)

    async def _fill_first_touch(self, batch: Sequence[_Pending]) -> None:
        """Add first-touch fields to records whose lead has them empty (or does not exist)."""
        wanted = sorted({name for item in batch for name in item.first_touch})
        if not wanted:
            return
        keys = sorted({item.key for item in batch if item.first_touch})
        params = {
            "filterType": self._lookup_field,
            "filterValues": ",".join(keys),
            "fields": ",".join([self._lookup_field, *wanted]),
        }
        # Always Marketo's POST ?_method=GET form: no 8 KB URI limit, and the emails stay out
        # of URLs (which HTTP clients and proxies log).
        found = await self._api.call(
            "POST", "/rest/v1/leads.json", params={"_method": "GET"}, form=params
        )
        filled: dict[str, set[str]] = {}
        for lead in found:
            lead = as_mapping(lead)
            key = str(lead.get(self._lookup_field) or "").strip().lower()
            filled.setdefault(key, set()).update(n for n in wanted if not _empty(lead.get(n)))
        for item in batch:
            taken = filled.get(item.key, set())
            item.record.update({k: v for k, v in item.first_touch.items() if k not in taken})

    async def _upsert(self, batch: Sequence[_Pending]) -> None:
        body = {
            "action": "createOrUpdate",
            "lookupField": self._lookup_field,
            "input": [item.record for item in batch],
        }
        result = await self._api.call("POST", "/rest/v1/leads.json", body=body)
        if len(result) != len(batch):
            raise RetryableError(f"{self.name} answered {len(result)} results for {len(batch)}")
        for item, outcome in zip(batch, result, strict=True):
            outcome = as_mapping(outcome)
            if outcome.get("status") in {"created", "updated"} and outcome.get("id") is not None:
                item.lead_id = int(outcome["id"])
            else:
                item.failed = self._skipped(item, outcome)

    def _skipped(self, item: _Pending, outcome: Mapping[str, Any]) -> ChangeResult:
        reasons = outcome.get("reasons")
        codes = [
            str(as_mapping(r).get("code")) for r in (reasons if isinstance(reasons, list) else [])
        ]
        error = f"{self.name} skipped the lead ({', '.join(codes) or 'no reason'})"
        # 1007 (several leads match the key) needs a person to merge them; nothing heals alone.
        retryable = any(code in TRANSIENT_CODES for code in codes)
        return ChangeResult(item.change.outbox_id, ok=False, retryable=retryable, error=error)

    async def _run_actions(self, batch: Sequence[_Pending]) -> None:
        lists: dict[int, list[_Pending]] = {}
        campaigns: dict[int, list[_Pending]] = {}
        for item in batch:
            if item.failed is None and item.lead_id is not None:
                for list_id in item.list_ids:
                    lists.setdefault(list_id, []).append(item)
                for campaign_id in item.campaign_ids:
                    campaigns.setdefault(campaign_id, []).append(item)
        for list_id, members in lists.items():
            body = {"input": [{"id": item.lead_id} for item in members]}
            try:
                result = await self._api.call(
                    "POST", f"/rest/v1/lists/{list_id}/leads.json", body=body
                )
            except PermanentError as exc:  # e.g. 1013, the list is gone: only its members fail
                self._fail(members, exc)
                continue
            outcomes = {as_mapping(r).get("id"): as_mapping(r) for r in result}
            for item in members:
                outcome = outcomes.get(item.lead_id, {})
                if outcome.get("status") != "added":
                    item.failed = self._skipped(item, outcome)
        for campaign_id, members in campaigns.items():
            # Requesting a campaign is not idempotent: Marketo's qualification rules (e.g.
            # "each lead once") are what keep a retried request from running twice.
            for start in range(0, len(members), MAX_CAMPAIGN_LEADS):
                chunk = members[start : start + MAX_CAMPAIGN_LEADS]
                leads = [{"id": item.lead_id} for item in chunk]
                trigger = {"input": {"leads": leads}}
                try:
                    await self._api.call(
                        "POST", f"/rest/v1/campaigns/{campaign_id}/trigger.json", body=trigger
                    )
                except PermanentError as exc:
                    self._fail(chunk, exc)

    @staticmethod
    def _fail(items: Sequence[_Pending], exc: PermanentError) -> None:
        for item in items:
            item.failed = ChangeResult(item.change.outbox_id, ok=False, error=exc.reason)
