"""The Pipedrive destination: envelopes as deals, leads as persons, ``crm.task`` as activities.

Pipedrive has no batch endpoint and no upsert key, so this connector sends one change at a time
and keeps its own id map. inkbridge owns the key: each deal carries the inkbridge id of its
record in a deal custom field (``options.key_field``), found again with an exact-match search;
persons are found by email. Found ids are cached in memory, which also covers Pipedrive's search
index lag (a deal created a moment ago is not yet searchable, but is in the cache).

It speaks API v2 (v1 deal, person and activity endpoints are being retired): custom fields
travel in ``custom_fields`` keyed by Pipedrive's per-account field keys, so the canonical fields
written to a deal are exactly those mapped in ``[destinations.NAME.fields]``; none are guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors import kinds
from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.fields import canonical_fields, is_blank, is_first_touch, map_fields
from inkbridge.connectors.one_by_one import apply_in_order
from inkbridge.connectors.outbound import as_mapping
from inkbridge.connectors.pipedrive.api import PipedriveApi
from inkbridge.connectors.pipedrive.erasure import PipedriveErasure
from inkbridge.errors import ConfigError, PermanentError
from inkbridge.vendor_http.credentials import CredentialCheck

DEFAULT_URL = "https://api.pipedrive.com"
# Deal custom field keys are per-account hashes: nothing can be mapped by default.
DEAL_FIELD_DEFAULTS: Mapping[str, str] = {}
TASK_MARKER = "inkbridge-task:"
ACTIVITY_PAGE = 500
# Pipedrive's marketing_status for each consent status of marketing_email.
MARKETING_STATUS = {"granted": "subscribed", "withdrawn": "unsubscribed", "denied": "no_consent"}
NOT_MARKETABLE = frozenset({"unsubscribed", "no_consent"})


def inkbridge_key(record_key: str) -> str:
    """The id stored in the key field: ``envelope:env_…`` keeps ``env_…``.

    The kind is implied by the Pipedrive object, and exact-match search is documented to work
    for terms of up to 30 characters only, which an inkbridge id fits and a record key does not.
    """
    return record_key.partition(":")[2] or record_key


def _due(value: Any) -> dict[str, str]:
    """Pipedrive's ``due_date``/``due_time`` (UTC) from an ISO timestamp."""
    if not isinstance(value, str) or not value:
        return {}
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return {}
    due = {"due_date": at.date().isoformat()}
    if at.tzinfo is not None:
        due["due_time"] = at.strftime("%H:%M")
    return due


class PipedriveConnector:
    """``Connector`` for Pipedrive (one change per call: the API has no batch writes)."""

    max_batch = 1

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        key_field: str,
        api_token: str | None = None,
        access_token: str | None = None,
        fields: Mapping[str, str] | None = None,
        owners: Mapping[str, int] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not key_field:
            raise ConfigError(f"destination {name!r}: options.key_field is required")
        self.name = name
        self._api = PipedriveApi(
            name,
            base_url,
            client,
            api_token=api_token,
            access_token=access_token,
            timeout=timeout,
        )
        self._key_field = key_field
        self._fields = dict(fields or {})
        self._owners = dict(owners or {})
        # The id map: inkbridge key -> deal id, lower-cased email -> person id, task key ->
        # activity id. Lost on restart, rebuilt from searches.
        self._deal_ids: dict[str, int] = {}
        self._person_ids: dict[str, int] = {}
        self._task_ids: dict[str, int] = {}

    async def check_credentials(self) -> CredentialCheck:
        return await self._api.check_credentials()

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        """Apply the changes in order. A retryable failure of the first change is raised for
        the whole call; a later one stops the run and marks the rest retryable. Every write is
        found again by key on a retry, so a change cut off half-way is safe to repeat."""
        self._api.requests = 0
        done = await apply_in_order(changes, self._apply_one)
        return replace(done, meta=self._meta())

    def _meta(self) -> dict[str, Any]:
        return {"requests": self._api.requests, **self._api.limits}

    async def _apply_one(self, change: Change) -> None:
        if change.kind == kinds.ENVELOPE_STATE:
            await self._upsert_deal(change)
        elif change.kind == kinds.LEAD_UPDATED:
            await self._upsert_person(change, None)
        elif change.kind == kinds.CONTACT_CONSENT:
            consent = change.record.lead_or_empty.consent
            status = MARKETING_STATUS.get(str(consent.get("marketing_email")))
            await self._upsert_person(change, status)
        elif change.kind == kinds.MARKETING_SUPPRESS:
            await self._upsert_person(change, "unsubscribed")
        elif change.kind == kinds.CRM_TASK:
            await self._create_task(change)
        else:
            raise PermanentError(f"{self.name} does not take {change.kind} changes")

    # -- persons -------------------------------------------------------------------------------

    async def _find_person(self, email: str) -> int | None:
        key = email.strip().lower()
        if key in self._person_ids:
            return self._person_ids[key]
        found = await self._api.persons_with_email(email, limit=10)
        if not found:
            return None
        # Several persons may share an email in Pipedrive; always pick the oldest, so every
        # change of this lead lands on the same one.
        self._person_ids[key] = min(found)
        return self._person_ids[key]

    def _person_body(self, fields: Mapping[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
        if name:
            body["name"] = name
        owner = self._owners.get(fields.get("owner", ""))
        if owner is not None:
            body["owner_id"] = owner
        return body

    async def _person(
        self, fields: Mapping[str, str], extra: Mapping[str, Any], *, update: bool = True
    ) -> tuple[int, Mapping[str, Any]]:
        """Find the lead's person by email (updating it unless ``update`` is off), or create
        it; returns its id and, when written, the person as Pipedrive answered."""
        email = fields.get("email")
        if not email:
            raise PermanentError("change has no lead email to find the Pipedrive person by")
        body = {**self._person_body(fields), **extra}
        person_id = await self._find_person(email)
        if person_id is not None:
            if not body or not update:
                return person_id, {}
            person = await self._api.call("PATCH", f"/api/v2/persons/{person_id}", body=body)
            if person is not None:
                return person_id, as_mapping(person)
            # Deleted in Pipedrive since it was cached: create it again.
            self._person_ids.pop(email.strip().lower(), None)
        create = {"name": email, **body}
        create["emails"] = [{"value": email, "primary": True, "label": "work"}]
        person = as_mapping(await self._api.call("POST", "/api/v2/persons", body=create))
        self._person_ids[email.strip().lower()] = int(person["id"])
        return int(person["id"]), person

    async def _person_id(self, fields: Mapping[str, str]) -> int:
        """The lead's person for a deal or task: found or created, never rewritten."""
        person_id, _ = await self._person(fields, {}, update=False)
        return person_id

    async def _upsert_person(self, change: Change, marketing_status: str | None) -> None:
        fields = canonical_fields(change.record)
        if marketing_status is None:
            await self._person(fields, {})
            return
        person_id, person = await self._person(fields, {"marketing_status": marketing_status})
        actual = person.get("marketing_status")
        if marketing_status == "no_consent" and actual in {"subscribed", "archived"}:
            # Consent denied for someone Pipedrive has subscribed: Pipedrive will not go back
            # to no_consent, and unsubscribed is what stops the mailings.
            marketing_status = "unsubscribed"
            body = {"marketing_status": marketing_status}
            person = as_mapping(
                await self._api.call("PATCH", f"/api/v2/persons/{person_id}", body=body)
            )
            actual = person.get("marketing_status")
        # Pipedrive ignores a marketing_status change it forbids (re-subscribing someone who
        # unsubscribed) and answers 200 with the old value: read it back and say so.
        if actual is None:
            raise PermanentError(f"{self.name} has no marketing_status (Campaigns add-on off?)")
        both_off = marketing_status in NOT_MARKETABLE and actual in NOT_MARKETABLE
        if actual != marketing_status and not both_off:
            raise PermanentError(
                f"{self.name} kept marketing_status {actual!r}, not {marketing_status!r}"
            )

    # -- deals ---------------------------------------------------------------------------------

    async def _find_deal(self, key: str) -> int | None:
        if key in self._deal_ids:
            return self._deal_ids[key]
        params: dict[str, str | int] = {
            "term": key,
            "fields": "custom_fields",
            "exact_match": "true",
            "limit": 10,
        }
        data = as_mapping(await self._api.call("GET", "/api/v2/deals/search", params=params))
        found = [
            int(item["id"])
            for item in (as_mapping(entry).get("item") for entry in data.get("items") or [])
            if isinstance(item, Mapping)
            and key in {str(v) for v in item.get("custom_fields") or []}
        ]
        if not found:
            return None
        self._deal_ids[key] = min(found)
        return self._deal_ids[key]

    def _deal_title(self, fields: Mapping[str, str]) -> str:
        template = fields.get("template") or "Agreement"
        company = fields.get("company")
        return f"{template} - {company or fields.get('envelope_id', '')}"

    async def _upsert_deal(self, change: Change) -> None:
        key = inkbridge_key(change.record_key)
        fields = canonical_fields(change.record)
        plain = {k: v for k, v in fields.items() if not is_first_touch(k)}
        custom = map_fields(plain, DEAL_FIELD_DEFAULTS, self._fields)
        custom[self._key_field] = key
        first = map_fields(
            {k: v for k, v in fields.items() if is_first_touch(k)},
            DEAL_FIELD_DEFAULTS,
            self._fields,
        )
        body: dict[str, Any] = {}
        if fields.get("email"):
            body["person_id"] = await self._person_id(fields)
        owner = self._owners.get(fields.get("owner", ""))
        if owner is not None:
            body["owner_id"] = owner
        deal_id = await self._find_deal(key)
        if deal_id is not None:
            if first:
                # First touch is written only into empty fields; Pipedrive cannot condition a
                # write, so read the deal first.
                deal = await self._api.call("GET", f"/api/v2/deals/{deal_id}")
                current = as_mapping(as_mapping(deal).get("custom_fields"))
                first = {k: v for k, v in first.items() if is_blank(current.get(k))}
            update = {**body, "custom_fields": {**custom, **first}}
            if await self._api.call("PATCH", f"/api/v2/deals/{deal_id}", body=update) is not None:
                self._deal_ids[key] = deal_id
                return
            self._deal_ids.pop(key, None)  # deleted in Pipedrive since: create it again
        create = {**body, "title": self._deal_title(fields), "custom_fields": {**custom, **first}}
        deal = as_mapping(await self._api.call("POST", "/api/v2/deals", body=create))
        self._deal_ids[key] = int(deal["id"])

    # -- tasks ---------------------------------------------------------------------------------

    async def _find_task(
        self, marker: str, deal_id: int | None, person_id: int | None
    ) -> int | None:
        """An activity already carrying this task's marker in its note (activities have no
        custom fields in Pipedrive, so the marker is the key)."""
        if deal_id is not None:
            params: dict[str, str | int] = {"deal_id": deal_id, "limit": ACTIVITY_PAGE}
        elif person_id is not None:
            params = {"person_id": person_id, "limit": ACTIVITY_PAGE}
        else:
            return None  # nothing to search under: a retry may create the task twice
        listed = await self._api.call("GET", "/api/v2/activities", params=params)
        for activity in listed if isinstance(listed, list) else []:
            if marker in str(as_mapping(activity).get("note") or ""):
                return int(activity["id"])
        return None

    async def _create_task(self, change: Change) -> None:
        task = change.record.task
        task_key = task.key
        if not task_key:
            raise PermanentError("crm.task change has no task.key")
        if task_key in self._task_ids:
            return
        fields = canonical_fields(change.record)
        person_id = await self._person_id(fields) if fields.get("email") else None
        deal_id = await self._find_deal(fields["envelope_id"]) if "envelope_id" in fields else None
        marker = f"[{TASK_MARKER}{task_key}]"
        if change.uncertain:
            found = await self._find_task(marker, deal_id, person_id)
            if found is not None:
                self._task_ids[task_key] = found
                return
        note = "\n\n".join(p for p in (task.body, marker) if p)
        body: dict[str, Any] = {
            "subject": task.subject or "Follow up",
            "type": "task",
            "note": note,
            **_due(task.due_at),
        }
        if deal_id is not None:
            body["deal_id"] = deal_id
        if person_id is not None:
            body["participants"] = [{"person_id": person_id, "primary": True}]
        owner = self._owners.get(task.owner or fields.get("owner") or "")
        if owner is not None:
            body["owner_id"] = owner
        activity = as_mapping(await self._api.call("POST", "/api/v2/activities", body=body))
        self._task_ids[task_key] = int(activity["id"])


def _secret(dest: DestinationSettings, name: str) -> str | None:
    reference = dest.credentials.get(name)
    return resolve_secret(reference).get_secret_value() if reference else None


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> ErasingConnector:
    """Reads ``url`` (default api.pipedrive.com), ``credentials.api_token`` or
    ``credentials.access_token``, ``options.key_field`` (required), ``options.owners``
    (inkbridge owner -> Pipedrive user id), ``fields`` and ``timeout_seconds``."""
    key_field = dest.options.get("key_field")
    if not isinstance(key_field, str) or not key_field:
        raise ConfigError(f"destination {name!r}: options.key_field (a deal field key) is required")
    owners_option = dest.options.get("owners") or {}
    if not isinstance(owners_option, Mapping):
        raise ConfigError(f"destination {name!r}: options.owners must map owners to user ids")
    try:
        owners = {str(owner): int(user) for owner, user in owners_option.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"destination {name!r}: options.owners values must be user ids") from None
    tokens = {
        "api_token": _secret(dest, "api_token"),
        "access_token": _secret(dest, "access_token"),
    }
    url = dest.url or DEFAULT_URL
    connector = PipedriveConnector(
        name,
        url,
        client,
        key_field=key_field,
        fields=dest.fields,
        owners=owners,
        timeout=dest.timeout_seconds,
        **tokens,
    )
    api = PipedriveApi(name, url, client, timeout=dest.timeout_seconds, **tokens)
    return ErasingConnector(connector, PipedriveErasure(api))
