"""The HubSpot destination: envelope records, contacts, consent, list memberships and tasks,
written through HubSpot's CRM v3/v4 batch APIs (``plan`` decides what to write).

One ``apply`` runs these steps, each batched (at most 100 inputs per call):

1. read the contacts and envelope records the batch touches (``batch/read`` by ``idProperty``)
   and drop first-touch properties HubSpot already holds: first touch is written once, never
   overwritten;
2. upsert contacts by ``email`` and envelope records (deals, or a custom object) by the
   inkbridge-owned unique property ``inkbridge_envelope_id``, then associate them;
3. write subscription statuses (communication preferences v4, with a legal basis on
   ``SUBSCRIBED``), add contacts to the lists that ``options.lists`` names for a journey;
4. create tasks, first searching by ``inkbridge_task_key`` when an earlier attempt may have
   landed (``Change.uncertain``): a task is a plain insert, the only non-idempotent write, so it
   runs last.

Failures: 429 is retryable with the wait read from ``Retry-After`` or the
``X-HubSpot-RateLimit-*`` headers; 5xx and transport errors are retryable; 401/403 fail the
batch; other 4xx fail the changes of that step only, and HubSpot's multi-status (207) errors fail
the inputs they name. A whole-request 400 on an upsert of several inputs is bisected to find the
input HubSpot refuses, so one bad record does not dead-letter its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack

from inkbridge.connectors._crm_batch import (
    CrmConnector,
    CrmParts,
    MergedRecord,
    Outcomes,
    StepRejected,
    chunks,
    first_touch_targets,
    json_body,
    short_code,
    step_refusal,
)
from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.hubspot.auth import HubSpotAuth
from inkbridge.connectors.hubspot.plan import (
    ENVELOPE_KEY,
    TASK_KEY,
    HubSpotOptions,
    HubSpotPlanner,
    Membership,
    StatusWrite,
    TaskWrite,
)
from inkbridge.connectors.hubspot.rate_limits import RateLimits
from inkbridge.connectors.outbound import as_mapping
from inkbridge.errors import RetryableError
from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.responses import (
    is_retryable_status,
    retry_after,
    send,
)

DEFAULT_URL = "https://api.hubapi.com"
VENDOR_MAX_BATCH = 100
# HubSpot-defined association type "task to contact".
TASK_TO_CONTACT = 204
ACCOUNT_INFO = "/account-info/v3/details"


def _code(body: Any, *keys: str) -> str:
    found = (short_code(as_mapping(body).get(k)) for k in keys)
    return next((c for c in found if c), "unknown")


class HubSpotConnector(CrmConnector[HubSpotAuth, HubSpotOptions]):
    """``Connector`` for one HubSpot account."""

    vendor_max_batch = default_batch = VENDOR_MAX_BATCH

    def __init__(
        self, *, base_url: str, **parts: Unpack[CrmParts[HubSpotAuth, HubSpotOptions]]
    ) -> None:
        super().__init__(parts, HubSpotOptions())
        self._base = base_url.rstrip("/")
        self._planner = HubSpotPlanner(self._options, self._field_overrides)
        self.rate_limits = RateLimits()

    async def _call(self, outcomes: Outcomes, method: str, path: str, body: Any) -> Any:
        """Send one request (the auth refreshes its token once after a 401) and return its
        JSON body."""
        response = await send(
            self._client,
            self.name,
            method,
            self._base + path,
            json=body,
            auth=self._auth,
            timeout=self._timeout,
        )
        # A 401 answered before the replay is in the history: every request counts.
        outcomes.requests += 1 + len(response.history)
        self.rate_limits.observe(response.headers)
        status = response.status_code
        data = json_body(response)
        if 200 <= status < 300:
            return data if data is not None else {}
        if status == 429:
            policy = _code(data, "policyName")
            wait = retry_after(response)
            if wait is None:
                wait = self.rate_limits.wait_for(policy)
            raise RetryableError(f"{self.name} answered 429 ({policy})", retry_after=wait)
        if is_retryable_status(status):
            raise RetryableError(
                f"{self.name} answered {status}", retry_after=retry_after(response)
            )
        reason = f"{self.name} answered {status} ({_code(data, 'category', 'status')})"
        raise step_refusal(reason, response)

    async def check_credentials(self) -> CredentialCheck:
        """The account's details: readable with any token of the account, whatever its scopes."""
        return await authenticated_get(
            self._client,
            self.name,
            self._base + ACCOUNT_INFO,
            what=f"GET {ACCOUNT_INFO}",
            auth=self._auth,
            timeout=self._timeout,
        )

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        outcomes = Outcomes()
        plan = self._planner.plan(changes, outcomes)
        envelope_type = self._options.envelope_object
        contacts = list(plan.contacts.values())
        envelopes = list(plan.envelopes.values())
        contact_first = first_touch_targets(self._planner.contact_fields)
        envelope_first = first_touch_targets(self._planner.envelope_fields)
        await self._keep_first_touch(outcomes, "contacts", "email", contacts, contact_first)
        await self._keep_first_touch(
            outcomes, envelope_type, ENVELOPE_KEY, envelopes, envelope_first
        )
        contact_ids = await self._upsert(outcomes, "contacts", "email", contacts)
        envelope_ids = await self._upsert(outcomes, envelope_type, ENVELOPE_KEY, envelopes)
        await self._associate(outcomes, envelopes, contact_ids, envelope_ids)
        await self._write_statuses(outcomes, plan.statuses)
        await self._add_to_lists(outcomes, plan.memberships, contact_ids)
        await self._create_tasks(outcomes, plan.tasks, contact_ids)
        limits = self.rate_limits
        # Out of requests for this window: tell the engine to hold off before HubSpot says 429.
        spent = limits.remaining == 0 and limits.interval_ms
        meta = {
            "requests": outcomes.requests,
            "remaining": limits.remaining,
            "max": limits.max,
            "interval_ms": limits.interval_ms,
            "daily_remaining": limits.daily_remaining,
        }
        pause = (limits.interval_ms or 0) / 1000.0 if spent else None
        return BatchResult(outcomes.results(changes), retry_after=pause, meta=meta)

    async def _keep_first_touch(
        self,
        outcomes: Outcomes,
        obj: str,
        id_property: str,
        records: Sequence[MergedRecord],
        first: set[str],
    ) -> None:
        """Drop first-touch properties the HubSpot record already has a value for."""
        wanted = [r for r in records if first & r.fields.keys() and outcomes.live(r.outbox_ids)]
        for chunk in chunks(wanted, VENDOR_MAX_BATCH):
            body = {
                "idProperty": id_property,
                "inputs": [{"id": r.key} for r in chunk],
                "properties": sorted(first | {id_property}),
            }
            try:
                answer = await self._call(
                    outcomes, "POST", f"/crm/v3/objects/{obj}/batch/read", body
                )
            except StepRejected as exc:
                for unread in chunk:
                    outcomes.fail(unread.outbox_ids, exc.reason)
                continue
            by_key = {r.key.lower(): r for r in chunk}
            # Records HubSpot does not have yet come back as OBJECT_NOT_FOUND errors: all empty.
            for result in as_mapping(answer).get("results") or []:
                props = as_mapping(as_mapping(result).get("properties"))
                record = by_key.get(str(props.get(id_property, "")).lower())
                if record is None:
                    continue
                for prop in first:
                    if props.get(prop) not in (None, ""):
                        record.fields.pop(prop, None)

    async def _upsert(
        self, outcomes: Outcomes, obj: str, id_property: str, records: Sequence[MergedRecord]
    ) -> dict[str, str]:
        """Upsert records by ``id_property``; returns HubSpot's record id per key."""
        ids: dict[str, str] = {}
        live = [r for r in records if outcomes.live(r.outbox_ids)]
        for chunk in chunks(live, self.max_batch):
            await self._upsert_chunk(outcomes, obj, id_property, chunk, ids)
        return ids

    async def _upsert_chunk(
        self,
        outcomes: Outcomes,
        obj: str,
        id_property: str,
        chunk: Sequence[MergedRecord],
        ids: dict[str, str],
    ) -> None:
        inputs = [
            {
                "idProperty": id_property,
                "id": r.key,
                "properties": {**r.fields, id_property: r.key},
                # Echoed in results and errors: how an answer names the input it is about.
                "objectWriteTraceId": str(i),
            }
            for i, r in enumerate(chunk)
        ]
        path = f"/crm/v3/objects/{obj}/batch/upsert"
        try:
            answer = as_mapping(await self._call(outcomes, "POST", path, {"inputs": inputs}))
        except StepRejected as exc:
            if len(chunk) == 1:
                outcomes.fail(chunk[0].outbox_ids, exc.reason)
                return
            half = len(chunk) // 2
            await self._upsert_chunk(outcomes, obj, id_property, chunk[:half], ids)
            await self._upsert_chunk(outcomes, obj, id_property, chunk[half:], ids)
            return
        by_trace = {str(i): r for i, r in enumerate(chunk)}
        by_key = {r.key.lower(): r for r in chunk}
        for result in answer.get("results") or []:
            result = as_mapping(result)
            props = as_mapping(result.get("properties"))
            record = by_trace.get(str(result.get("objectWriteTraceId"))) or by_key.get(
                str(props.get(id_property, "")).lower()
            )
            if record is not None and result.get("id") is not None:
                ids[record.key] = str(result["id"])
        for error in answer.get("errors") or []:
            context = as_mapping(as_mapping(error).get("context"))
            named = [by_trace.get(str(t)) for t in context.get("objectWriteTraceId") or []]
            named += [by_key.get(str(k).lower()) for k in context.get("ids") or []]
            for record in named:
                if record is not None and record.key not in ids:
                    reason = f"HubSpot {obj} upsert: {_code(error, 'category')}"
                    outcomes.fail(record.outbox_ids, reason)
        for record in chunk:
            if record.key not in ids:
                outcomes.fail(record.outbox_ids, f"HubSpot {obj} upsert: no result for the input")

    async def _associate(
        self,
        outcomes: Outcomes,
        envelopes: Sequence[MergedRecord],
        contact_ids: Mapping[str, str],
        envelope_ids: Mapping[str, str],
    ) -> None:
        pairs = [
            (contact_ids[r.contact], envelope_ids[r.key], r)
            for r in envelopes
            if r.contact is not None
            and r.contact in contact_ids
            and r.key in envelope_ids
            and outcomes.live(r.outbox_ids)
        ]
        to_type = self._options.envelope_object
        path = f"/crm/v4/associations/contacts/{to_type}/batch/associate/default"
        for chunk in chunks(pairs, VENDOR_MAX_BATCH):
            inputs = [{"from": {"id": c}, "to": {"id": e}} for c, e, _ in chunk]
            try:
                answer = as_mapping(await self._call(outcomes, "POST", path, {"inputs": inputs}))
            except StepRejected as exc:
                for _, _, record in chunk:
                    outcomes.fail(record.outbox_ids, exc.reason)
                continue
            done = {
                (str(as_mapping(r).get("fromObjectId")), str(as_mapping(r).get("toObjectId")))
                for r in answer.get("results") or []
            }
            for contact_id, envelope_id, record in chunk:
                if (contact_id, envelope_id) not in done:
                    outcomes.fail(record.outbox_ids, "HubSpot association: not created")

    async def _write_statuses(self, outcomes: Outcomes, statuses: Sequence[StatusWrite]) -> None:
        live = [s for s in statuses if outcomes.live([s.outbox_id])]
        path = "/communication-preferences/v4/statuses/batch/write"
        for chunk in chunks(live, VENDOR_MAX_BATCH):
            inputs = [item for status in chunk for item in status.inputs]
            try:
                answer = as_mapping(await self._call(outcomes, "POST", path, {"inputs": inputs}))
            except StepRejected as exc:
                outcomes.fail([s.outbox_id for s in chunk], exc.reason)
                continue
            # Judged by what came back: HubSpot's errors for this API name no input reliably.
            written = {
                (str(r.get("subscriberIdString", "")).lower(), str(r.get("subscriptionId")))
                for r in (as_mapping(r) for r in answer.get("results") or [])
            }
            for status in chunk:
                wanted = {(status.email, str(i["subscriptionId"])) for i in status.inputs}
                if not wanted <= written:
                    outcomes.fail([status.outbox_id], "HubSpot subscription status: not written")

    async def _add_to_lists(
        self,
        outcomes: Outcomes,
        memberships: Sequence[Membership],
        contact_ids: Mapping[str, str],
    ) -> None:
        by_list: dict[str, list[tuple[str, int]]] = {}
        for item in memberships:
            if outcomes.live([item.outbox_id]) and item.email in contact_ids:
                member = (contact_ids[item.email], item.outbox_id)
                by_list.setdefault(item.list_id, []).append(member)
        for list_id, members in by_list.items():
            for chunk in chunks(members, VENDOR_MAX_BATCH):
                record_ids = list(dict.fromkeys(r for r, _ in chunk))
                path = f"/crm/v3/lists/{list_id}/memberships/add"
                try:
                    answer = as_mapping(await self._call(outcomes, "PUT", path, record_ids))
                except StepRejected as exc:
                    outcomes.fail([o for _, o in chunk], exc.reason)
                    continue
                missing = {str(r) for r in answer.get("recordIdsMissing") or []}
                outcomes.fail([o for r, o in chunk if r in missing], "HubSpot list: no contact")

    async def _existing_tasks(self, outcomes: Outcomes, keys: Sequence[str]) -> set[str]:
        """Task keys HubSpot already has (an earlier attempt landed).

        HubSpot's search index trails writes by a few seconds; the engine's backoff between
        attempts is what makes a just-landed task visible here.
        """
        found: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(keys)), VENDOR_MAX_BATCH):
            search = {"propertyName": TASK_KEY, "operator": "IN", "values": list(chunk)}
            body = {"filterGroups": [{"filters": [search]}], "properties": [TASK_KEY], "limit": 200}
            answer = as_mapping(
                await self._call(outcomes, "POST", "/crm/v3/objects/tasks/search", body)
            )
            for result in answer.get("results") or []:
                found.add(str(as_mapping(as_mapping(result).get("properties")).get(TASK_KEY)))
        return found

    async def _create_tasks(
        self, outcomes: Outcomes, tasks: Sequence[TaskWrite], contact_ids: Mapping[str, str]
    ) -> None:
        live = [t for t in tasks if outcomes.live([t.outbox_id])]
        existing = await self._existing_tasks(outcomes, [t.key for t in live if t.uncertain])
        for task in live:
            if task.key in existing:
                continue
            body: dict[str, Any] = {"properties": task.properties}
            contact_id = contact_ids.get(task.email) if task.email else None
            if contact_id is not None:
                kind = {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": TASK_TO_CONTACT,
                }
                body["associations"] = [{"to": {"id": contact_id}, "types": [kind]}]
            try:
                await self._call(outcomes, "POST", "/crm/v3/objects/tasks", body)
            except StepRejected as exc:
                outcomes.fail([task.outbox_id], exc.reason)
                continue
            existing.add(task.key)  # a replayed task later in the same batch is not created twice
