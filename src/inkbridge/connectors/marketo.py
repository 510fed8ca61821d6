"""The Marketo destination: leads upserted by a lookup field, consent as ``unsubscribed``,
journeys as static-list memberships or requested campaigns.

Marketo reports most failures inside HTTP 200 answers (``success: false`` with
``errors[].code``), so every answer's body is checked: 601/602 refresh the access token and retry
the call once, 606/615 (call rate, concurrency) and 607 (daily quota) are retryable with a wait,
anything else is permanent; per-record ``skipped`` results become per-change failures.

Marketo cannot write a field only when it is empty, so first-touch fields are read first (one
read per round of upserts) and sent only where the lead has none. Field names default to the
camelCase ``inkbridge…`` custom fields below, overridable in ``[destinations.NAME.fields]``.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors import kinds
from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.connectors.fields import (
    FIRST_TOUCH_PREFIX,
    canonical_fields,
    is_first_touch,
    map_fields,
)
from inkbridge.connectors.http_errors import raise_for_answer, transport_failure
from inkbridge.domain.attribution import CLICK_IDS, UTM_FIELDS
from inkbridge.errors import ConfigError, PermanentError, RetryableError

VENDOR_MAX_BATCH = 300
MAX_CAMPAIGN_LEADS = 100
# Marketo answers 414 past 8 KB of URI; longer reads go as POST ?_method=GET with a form body.
MAX_QUERY_CHARS = 7000
TOKEN_MARGIN_SECONDS = 60.0
RATE_WAIT_SECONDS = 20.0  # 606/615: the call-rate window is 20 s
TRANSIENT_WAIT_SECONDS = 30.0
# The daily quota resets at midnight US Central (Marketo's documentation says CST).
QUOTA_TIMEZONE = timezone(timedelta(hours=-6))
TOKEN_CODES = frozenset({"601", "602"})
TRANSIENT_CODES = frozenset({"604", "608", "611", "713"})
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

_MILESTONES = (
    "sent_at",
    "first_viewed_at",
    "first_signed_at",
    "completed_at",
    "declined_at",
    "voided_at",
    "expired_at",
    "delivery_failed_at",
    "first_reminder_at",
)
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
    *_MILESTONES,
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


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _empty(value: Any) -> bool:
    return value is None or value == ""


def marketing_allowed(payload: Mapping[str, Any]) -> bool:
    """Whether the lead may receive marketing: its flag, else its marketing_email consent."""
    lead = _mapping(payload.get("lead"))
    if "marketing_allowed" in lead:
        return bool(lead["marketing_allowed"])
    return _mapping(lead.get("consent")).get("marketing_email") == "granted"


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    at = (now or datetime.now(UTC)).astimezone(QUOTA_TIMEZONE)
    midnight = (at + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - at).total_seconds()


def rounds_by_key(pending: Sequence[_Pending]) -> list[list[_Pending]]:
    """Split changes into rounds holding at most one change per lead key, order kept.

    Marketo resolves every lookup in a request before writing, and upserts of one key that
    overlap can each create a lead: never send two changes of one lead together or at once.
    """
    rounds: list[list[_Pending]] = []
    seen: dict[str, int] = {}
    for item in pending:
        index = seen.get(item.key, 0)
        seen[item.key] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(item)
    return rounds


def _error_for(name: str, code: str) -> RetryableError | PermanentError:
    """Classify a response-level error code. Reasons carry the code only, never the message,
    which can echo the record's values."""
    reason = f"{name} error {code}"
    if code in {"606", "615"}:
        return RetryableError(reason, retry_after=RATE_WAIT_SECONDS)
    if code == "607":
        return RetryableError(reason, retry_after=seconds_until_quota_reset())
    if code in TRANSIENT_CODES or code in TOKEN_CODES:
        return RetryableError(reason, retry_after=TRANSIENT_WAIT_SECONDS)
    return PermanentError(reason)


class MarketoConnector:
    """``Connector`` for Marketo (up to 300 changes per batch, one upsert call per round)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        identity_url: str | None = None,
        lookup_field: str = "email",
        fields: Mapping[str, str] | None = None,
        journeys: Mapping[str, JourneyTarget] | None = None,
        suppress_list_id: int | None = None,
        max_batch: int = VENDOR_MAX_BATCH,
        timeout: float = 10.0,
    ) -> None:
        if not 1 <= max_batch <= VENDOR_MAX_BATCH:
            raise ConfigError(f"destination {name!r}: max_batch must be 1..{VENDOR_MAX_BATCH}")
        self.name = name
        self.max_batch = max_batch
        self._base = base_url.rstrip("/")
        self._identity = (identity_url or self._base + "/identity").rstrip("/")
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._lookup_field = lookup_field
        self._fields = dict(fields or {})
        self._journeys = dict(journeys or {})
        self._suppress_list_id = suppress_list_id
        self._timeout = httpx.Timeout(timeout)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._stripes = [asyncio.Lock() for _ in range(LOCK_STRIPES)]
        self._requests = 0

    # -- access token --------------------------------------------------------------------------

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached token, fetched anew when missing, near expiry or equal to ``stale``."""
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() < self._token_expires
            if fresh and self._token != stale and self._token is not None:
                return self._token
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            try:
                # A form body rather than the documented query string: URLs end up in logs.
                response = await self._client.post(
                    self._identity + "/oauth/token", data=form, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            if response.status_code in {400, 401, 403}:
                raise PermanentError(f"{self.name} identity refused the client credentials")
            raise_for_answer(self.name, response)
            body = _mapping(response.json())
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise RetryableError(f"{self.name} identity answered without a token")
            lifetime = float(body.get("expires_in") or 0)
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
            return token

    # -- HTTP ----------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """The ``result`` of a successful answer; one token refresh on 601/602."""
        token = await self._access_token()
        for attempt in (1, 2):
            try:
                response = await self._client.request(
                    method,
                    self._base + path,
                    params=params,
                    json=body,
                    data=form,
                    headers={"authorization": f"Bearer {token}"},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            self._requests += 1
            raise_for_answer(self.name, response)
            try:
                answer = _mapping(response.json())
            except ValueError:
                raise RetryableError(f"{self.name} answered without JSON") from None
            if answer.get("success") is True:
                result = answer.get("result")
                return list(result) if isinstance(result, list) else []
            errors = answer.get("errors")
            first = _mapping(errors[0]) if isinstance(errors, list) and errors else {}
            code = str(first.get("code", "unknown"))
            if code in TOKEN_CODES and attempt == 1:
                token = await self._access_token(stale=token)
                continue
            raise _error_for(self.name, code)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- preparing changes ---------------------------------------------------------------------

    def _prepare(self, change: Change) -> _Pending:
        """The lead write one change makes; a ``failed`` result when it cannot be sent."""
        payload = change.payload
        fields = canonical_fields(payload)
        lookup_source = "email" if self._lookup_field == "email" else "lead_id"
        key_value = fields.get(lookup_source, "")
        pending = _Pending(change, key_value.strip().lower(), {}, {})
        problem: str | None = None
        if change.kind not in SUPPORTED:
            problem = f"{self.name} does not take {change.kind} changes"
        elif not key_value:
            problem = f"change has no {lookup_source} to find the Marketo lead by"
        if change.kind == kinds.JOURNEY_ENTER and problem is None:
            name = str(_mapping(payload.get("journey")).get("name") or "")
            target = self._journeys.get(name)
            if not marketing_allowed(payload):
                problem = "no marketing consent: journey not entered"
            elif target is None:
                problem = f"journey {name!r} is not configured for {self.name}"
            else:
                pending.list_ids = () if target.list_id is None else (target.list_id,)
                pending.campaign_ids = () if target.campaign_id is None else (target.campaign_id,)
        if problem is not None:
            pending.failed = ChangeResult(change.outbox_id, ok=False, error=problem)
            return pending
        plain = {k: v for k, v in fields.items() if not is_first_touch(k)}
        pending.record = {**map_fields(plain, DEFAULT_FIELDS, self._fields)}
        pending.record[self._lookup_field] = key_value
        pending.first_touch = map_fields(
            {k: v for k, v in fields.items() if is_first_touch(k)}, DEFAULT_FIELDS, self._fields
        )
        # Consent is written by consent changes only: other kinds carry a snapshot that may be
        # older than the latest consent change.
        if change.kind == kinds.CONTACT_CONSENT:
            consent = _mapping(_mapping(payload.get("lead")).get("consent"))
            status = consent.get("marketing_email")
            if status in {"withdrawn", "denied"}:
                pending.record["unsubscribed"] = True
            elif status == "granted":
                pending.record["unsubscribed"] = False
        elif change.kind == kinds.MARKETING_SUPPRESS:
            pending.record["unsubscribed"] = True
            if self._suppress_list_id is not None:
                pending.list_ids = (self._suppress_list_id,)
        return pending

    # -- applying ------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        """Upsert the batch in rounds (one change per lead per round), then add leads to lists
        and request campaigns. A failure before anything was written is raised for the whole
        call; after that the changes not yet done get the failure as their result."""
        self._requests = 0
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
        meta = {"requests": self._requests, "rounds": len(rounds)}
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
        if len(str(httpx.QueryParams(params))) > MAX_QUERY_CHARS:
            found = await self._call(
                "POST", "/rest/v1/leads.json", params={"_method": "GET"}, form=params
            )
        else:
            found = await self._call("GET", "/rest/v1/leads.json", params=params)
        filled: dict[str, set[str]] = {}
        for lead in found:
            lead = _mapping(lead)
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
        result = await self._call("POST", "/rest/v1/leads.json", body=body)
        if len(result) != len(batch):
            raise RetryableError(f"{self.name} answered {len(result)} results for {len(batch)}")
        for item, outcome in zip(batch, result, strict=True):
            outcome = _mapping(outcome)
            if outcome.get("status") in {"created", "updated"} and outcome.get("id") is not None:
                item.lead_id = int(outcome["id"])
            else:
                item.failed = self._skipped(item, outcome)

    def _skipped(self, item: _Pending, outcome: Mapping[str, Any]) -> ChangeResult:
        reasons = outcome.get("reasons")
        codes = [
            str(_mapping(r).get("code")) for r in (reasons if isinstance(reasons, list) else [])
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
            result = await self._call("POST", f"/rest/v1/lists/{list_id}/leads.json", body=body)
            outcomes = {_mapping(r).get("id"): _mapping(r) for r in result}
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
                await self._call(
                    "POST", f"/rest/v1/campaigns/{campaign_id}/trigger.json", body=trigger
                )


def _journeys(name: str, raw: Any) -> dict[str, JourneyTarget]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"destination {name!r}: options.journeys must be a table")
    journeys: dict[str, JourneyTarget] = {}
    for journey, target in raw.items():
        target = _mapping(target)
        list_id, campaign_id = target.get("list_id"), target.get("campaign_id")
        if not isinstance(list_id, int | None) or not isinstance(campaign_id, int | None):
            raise ConfigError(f"destination {name!r}: journey {journey!r} ids must be integers")
        if list_id is None and campaign_id is None:
            raise ConfigError(
                f"destination {name!r}: journey {journey!r} needs list_id/campaign_id"
            )
        journeys[str(journey)] = JourneyTarget(list_id, campaign_id)
    return journeys


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> MarketoConnector:
    """Reads ``url`` (``https://<munchkin>.mktorest.com``) or ``options.munchkin_id``,
    ``options.identity_url`` (default ``<url>/identity``), ``options.client_id``,
    ``credentials.client_secret``, ``options.lookup_field`` (default ``email``),
    ``options.journeys``, ``options.suppress_list_id``, ``fields``, ``batch_size`` (at most
    300) and ``timeout_seconds``."""
    options = dest.options
    munchkin = options.get("munchkin_id")
    url = dest.url or (f"https://{munchkin}.mktorest.com" if munchkin else None)
    if not url:
        raise ConfigError(f"destination {name!r}: url (or options.munchkin_id) is required")
    client_id = options.get("client_id")
    secret_ref = dest.credentials.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not secret_ref:
        raise ConfigError(
            f"destination {name!r}: options.client_id and credentials.client_secret are required"
        )
    suppress = options.get("suppress_list_id")
    if suppress is not None and not isinstance(suppress, int):
        raise ConfigError(f"destination {name!r}: options.suppress_list_id must be an integer")
    return MarketoConnector(
        name,
        url,
        client,
        client_id=client_id,
        client_secret=resolve_secret(secret_ref).get_secret_value(),
        identity_url=options.get("identity_url"),
        lookup_field=str(options.get("lookup_field") or "email"),
        fields=dest.fields,
        journeys=_journeys(name, options.get("journeys") or {}),
        suppress_list_id=suppress,
        max_batch=max(1, min(dest.batch_size, VENDOR_MAX_BATCH)),
        timeout=dest.timeout_seconds,
    )
