"""The HubSpot destination: envelope records, contacts, consent, list memberships and tasks,
written through HubSpot's CRM v3/v4 batch APIs.

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

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors import kinds
from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.connectors.fields import canonical_fields, is_first_touch, map_fields
from inkbridge.connectors.http_errors import retry_after, transport_failure
from inkbridge.domain.attribution import CLICK_IDS, UTM_FIELDS
from inkbridge.domain.lifecycle import MILESTONES
from inkbridge.errors import ConfigError, PermanentError, RetryableError

DEFAULT_URL = "https://api.hubapi.com"
VENDOR_MAX_BATCH = 100
ENVELOPE_KEY = "inkbridge_envelope_id"
TASK_KEY = "inkbridge_task_key"
# HubSpot-defined association type "task to contact".
TASK_TO_CONTACT = 204
# Refresh this long before an access token's end, so no request starts with a dying token.
REFRESH_MARGIN_SECONDS = 300.0
STATUS_STATES = {"granted": "SUBSCRIBED", "denied": "UNSUBSCRIBED", "withdrawn": "UNSUBSCRIBED"}
CHANNELS = {"marketing_email": "EMAIL", "marketing_phone": "SMS"}
SUPPRESS_LIST = "suppress"

_FIRST_TOUCH = [*UTM_FIELDS, "referrer", "landing_page", "at", *CLICK_IDS]
FIRST_TOUCH_FIELDS = {f"first_touch_{n}": f"inkbridge_first_touch_{n}" for n in _FIRST_TOUCH}
CONTACT_FIELDS: dict[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "owner": "hubspot_owner_id",
    "lead_id": "inkbridge_lead_id",
    "marketing_allowed": "inkbridge_marketing_allowed",
    **FIRST_TOUCH_FIELDS,
}
ENVELOPE_FIELDS: dict[str, str] = {
    "envelope_id": ENVELOPE_KEY,
    "envelope_status": "inkbridge_status",
    "provider": "inkbridge_provider",
    "provider_envelope_id": "inkbridge_provider_envelope_id",
    "template": "inkbridge_template",
    "template_version": "inkbridge_template_version",
    "delivery_failed": "inkbridge_delivery_failed",
    "document_url": "inkbridge_document_url",
    "correlation_id": "inkbridge_correlation_id",
    "lead_id": "inkbridge_lead_id",
    "owner": "hubspot_owner_id",
    **{m: f"inkbridge_{m}" for m in MILESTONES},
    **FIRST_TOUCH_FIELDS,
}


def object_fields(
    defaults: Mapping[str, str], overrides: Mapping[str, str], scope: str
) -> dict[str, str]:
    """One object's canonical-to-property mapping: its defaults, overlaid by the overrides that
    rename a field it already maps or that name it explicitly (``"contact.owner"``)."""
    mapping = dict(defaults)
    for name, prop in overrides.items():
        prefix, dot, canonical = name.partition(".")
        if dot and prefix == scope:
            mapping[canonical] = prop
        elif not dot and name in defaults:
            mapping[name] = prop
    return mapping


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- auth ------------------------------------------------------------------------------------


class HubSpotAuth(Protocol):
    """Where the bearer token comes from; ``refreshable`` auth gets one retry after a 401."""

    refreshable: bool

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class PrivateAppToken:
    """A private app's static access token."""

    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "PrivateAppToken(***)"

    async def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        """A static token cannot be renewed: a 401 is final."""


class HubSpotOAuth:
    """OAuth access tokens (30 minutes) from a refresh token, cached until shortly before they
    end; one lock makes concurrent callers share one exchange."""

    refreshable = True

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        client: httpx.AsyncClient,
        timeout: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._client = client
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0

    def __repr__(self) -> str:
        return f"HubSpotOAuth(token_url={self._token_url!r})"

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._valid_until:
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._valid_until:
                return self._token
            self._token, self._valid_until = await self._exchange()
            return self._token

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token, self._valid_until = None, 0.0

    async def _exchange(self) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            response = await self._client.post(self._token_url, data=form, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise transport_failure("hubspot auth", exc) from exc
        body = _json_object(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"hubspot auth answered {response.status_code}")
        if response.status_code >= 300:
            # HubSpot names OAuth failures in 'status' (BAD_REFRESH_TOKEN, BAD_CLIENT_ID, ...).
            raise PermanentError(
                f"hubspot auth answered {response.status_code} ({_code(body, 'status')})"
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("hubspot auth answered without an access_token")
        if isinstance(body.get("refresh_token"), str) and body["refresh_token"]:
            self._refresh_token = body["refresh_token"]
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 1800.0
        self.exchanges += 1
        return token, self._clock() + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _code(body: Mapping[str, Any], *keys: str) -> str:
    """A vendor's short error code, never its free-text message (which may quote our data)."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and 0 < len(value) <= 60:
            return value
    return "unknown"


# -- the batch run ---------------------------------------------------------------------------


class _Rejected(PermanentError):
    """A 4xx other than auth: fails the changes of one step, not the batch."""


@dataclass
class RateLimits:
    """The last ``X-HubSpot-RateLimit-*`` values seen; the engine paces itself on them."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily_remaining: int | None = None

    def observe(self, headers: httpx.Headers) -> None:
        def number(name: str) -> int | None:
            try:
                return int(headers[name])
            except (KeyError, ValueError):
                return None

        if (remaining := number("x-hubspot-ratelimit-remaining")) is not None:
            self.remaining = remaining
            self.max = number("x-hubspot-ratelimit-max") or self.max
            self.interval_ms = (
                number("x-hubspot-ratelimit-interval-milliseconds") or self.interval_ms
            )
        if (daily := number("x-hubspot-ratelimit-daily-remaining")) is not None:
            self.daily_remaining = daily

    def wait_for(self, policy: str | None) -> float:
        """How long to wait after a 429 that carried no ``Retry-After``."""
        if policy == "DAILY" or self.daily_remaining == 0:
            # HubSpot resets the daily count at midnight in the account's time zone, which we
            # do not know: wait until the next UTC midnight, at most a day.
            now = datetime.now(UTC)
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            return (midnight - now).total_seconds()
        return (self.interval_ms or 10_000) / 1000.0


@dataclass
class _Run:
    """Per-change outcomes of one ``apply``: a change is ok unless some step failed it."""

    errors: dict[int, ChangeResult] = field(default_factory=dict)
    requests: int = 0

    def fail(self, outbox_ids: Iterable[int], reason: str, retryable: bool = False) -> None:
        for outbox_id in outbox_ids:
            self.errors.setdefault(outbox_id, ChangeResult(outbox_id, False, retryable, reason))

    def live(self, outbox_ids: Iterable[int]) -> bool:
        return any(i not in self.errors for i in outbox_ids)

    def results(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return [self.errors.get(c.outbox_id) or ChangeResult(c.outbox_id, True) for c in changes]


@dataclass
class _Write:
    """One record to upsert, merged from every change in the batch that touches it."""

    key: str
    properties: dict[str, str] = field(default_factory=dict)
    outbox_ids: list[int] = field(default_factory=list)
    email: str | None = None  # an envelope record's contact, for the association


@dataclass
class _Status:
    outbox_id: int
    email: str
    inputs: list[dict[str, Any]]


@dataclass
class _Membership:
    outbox_id: int
    email: str
    list_id: str


@dataclass
class _Task:
    outbox_id: int
    key: str
    properties: dict[str, str]
    email: str | None
    uncertain: bool


@dataclass
class _Plan:
    contacts: dict[str, _Write] = field(default_factory=dict)
    envelopes: dict[str, _Write] = field(default_factory=dict)
    statuses: list[_Status] = field(default_factory=list)
    memberships: list[_Membership] = field(default_factory=list)
    tasks: list[_Task] = field(default_factory=list)


@dataclass(frozen=True)
class HubSpotOptions:
    """``options`` of a HubSpot destination (see ``from_settings``)."""

    envelope_object: str = "deals"
    owners: Mapping[str, str] = field(default_factory=dict)
    subscriptions: Mapping[str, int] = field(default_factory=dict)
    lists: Mapping[str, str] = field(default_factory=dict)
    legal_basis: str = "CONSENT_WITH_NOTICE"
    legal_basis_explanation: str = "Consent recorded by inkbridge"
    deal_pipeline: str | None = None
    deal_stages: Mapping[str, str] = field(default_factory=dict)


class HubSpotConnector:
    """``Connector`` for one HubSpot account."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        auth: HubSpotAuth,
        options: HubSpotOptions | None = None,
        field_overrides: Mapping[str, str] | None = None,
        max_batch: int = VENDOR_MAX_BATCH,
        timeout: float = 10.0,
    ) -> None:
        if not 1 <= max_batch <= VENDOR_MAX_BATCH:
            raise ConfigError(f"destination {name!r}: max_batch must be 1..{VENDOR_MAX_BATCH}")
        self.name = name
        self.max_batch = max_batch
        self._base = base_url.rstrip("/")
        self._client = client
        self._auth = auth
        self._options = options or HubSpotOptions()
        overrides = field_overrides or {}
        self._contact_fields = object_fields(CONTACT_FIELDS, overrides, "contact")
        self._envelope_fields = object_fields(ENVELOPE_FIELDS, overrides, "envelope")
        self._timeout = timeout
        self.rate_limits = RateLimits()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _call(self, run: _Run, method: str, path: str, body: Any) -> Any:
        """Send one request (with one token refresh after a 401) and return its JSON body."""
        response: httpx.Response | None = None
        for attempt in range(2):
            token = await self._auth.token()
            try:
                response = await self._client.request(
                    method,
                    self._base + path,
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            run.requests += 1
            self.rate_limits.observe(response.headers)
            if response.status_code == 401 and attempt == 0 and self._auth.refreshable:
                self._auth.invalidate(token)
                continue
            break
        assert response is not None
        status = response.status_code
        data = _json_object(response)
        if 200 <= status < 300:
            return response.json() if response.content else {}
        if status == 429:
            policy = _code(data, "policyName")
            wait = retry_after(response)
            if wait is None:
                wait = self.rate_limits.wait_for(policy)
            raise RetryableError(f"{self.name} answered 429 ({policy})", retry_after=wait)
        if status in (408, 425) or status >= 500:
            raise RetryableError(
                f"{self.name} answered {status}", retry_after=retry_after(response)
            )
        reason = f"{self.name} answered {status} ({_code(data, 'category', 'status')})"
        if status in (401, 403):
            raise PermanentError(reason)
        raise _Rejected(reason)

    # -- the batch ----------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        run = _Run()
        plan = self._plan(changes, run)
        envelope_type = self._options.envelope_object
        contacts = list(plan.contacts.values())
        envelopes = list(plan.envelopes.values())
        first_contact = {self._contact_fields[c] for c in self._contact_fields if is_first_touch(c)}
        first_envelope = {
            self._envelope_fields[c] for c in self._envelope_fields if is_first_touch(c)
        }
        await self._keep_first_touch(run, "contacts", "email", contacts, first_contact)
        await self._keep_first_touch(run, envelope_type, ENVELOPE_KEY, envelopes, first_envelope)
        contact_ids = await self._upsert(run, "contacts", "email", contacts)
        envelope_ids = await self._upsert(run, envelope_type, ENVELOPE_KEY, envelopes)
        await self._associate(run, envelopes, contact_ids, envelope_ids)
        await self._write_statuses(run, plan.statuses)
        await self._add_to_lists(run, plan.memberships, contact_ids)
        await self._create_tasks(run, plan.tasks, contact_ids)
        limits = self.rate_limits
        # Out of requests for this window: tell the engine to hold off before HubSpot says 429.
        pause = (
            limits.interval_ms / 1000.0 if limits.remaining == 0 and limits.interval_ms else None
        )
        meta = {
            "requests": run.requests,
            "remaining": limits.remaining,
            "max": limits.max,
            "interval_ms": limits.interval_ms,
            "daily_remaining": limits.daily_remaining,
        }
        return BatchResult(run.results(changes), retry_after=pause, meta=meta)

    def _canonical(self, change: Change) -> dict[str, str]:
        fields = canonical_fields(change.payload)
        if "owner" in fields:
            fields["owner"] = self._options.owners.get(fields["owner"], fields["owner"])
        return fields

    def _add_contact(self, plan: _Plan, change: Change, fields: Mapping[str, str]) -> str | None:
        email = fields.get("email", "").strip().lower()
        if not email:
            return None
        props = map_fields(fields, self._contact_fields, {})
        props["email"] = email
        write = plan.contacts.setdefault(email, _Write(email))
        write.properties.update(props)
        write.outbox_ids.append(change.outbox_id)
        return email

    def _plan(self, changes: Sequence[Change], run: _Run) -> _Plan:
        plan = _Plan()
        for change in changes:
            fields = self._canonical(change)
            if change.kind == kinds.ENVELOPE_STATE:
                self._plan_envelope(plan, run, change, fields)
            elif change.kind in (kinds.LEAD_UPDATED, kinds.CONTACT_CONSENT):
                email = self._add_contact(plan, change, fields)
                if email is None:
                    run.fail(
                        [change.outbox_id], "HubSpot contacts are keyed by email; the lead has none"
                    )
                elif change.kind == kinds.CONTACT_CONSENT:
                    self._plan_consent(plan, change, email)
            elif change.kind in (kinds.JOURNEY_ENTER, kinds.MARKETING_SUPPRESS):
                self._plan_membership(plan, run, change, fields)
            elif change.kind == kinds.CRM_TASK:
                self._plan_task(plan, run, change, fields)
            # Any other kind (event-stream kinds) is not a CRM write: acknowledged, ignored.
        return plan

    def _plan_envelope(
        self, plan: _Plan, run: _Run, change: Change, fields: Mapping[str, str]
    ) -> None:
        envelope_id = fields.get("envelope_id")
        if not envelope_id:
            run.fail([change.outbox_id], "envelope change without an envelope id")
            return
        email = self._add_contact(plan, change, fields)
        props = map_fields(fields, self._envelope_fields, {})
        props[ENVELOPE_KEY] = envelope_id
        if self._options.envelope_object == "deals":
            props.setdefault("dealname", f"{fields.get('template', 'Envelope')} {envelope_id}")
            if self._options.deal_pipeline:
                props.setdefault("pipeline", self._options.deal_pipeline)
            stage = self._options.deal_stages.get(fields.get("envelope_status", ""))
            if stage:
                props["dealstage"] = stage
        write = plan.envelopes.setdefault(envelope_id, _Write(envelope_id))
        write.properties.update(props)
        write.outbox_ids.append(change.outbox_id)
        write.email = email or write.email

    def _plan_consent(self, plan: _Plan, change: Change, email: str) -> None:
        consent = _mapping(_mapping(change.payload.get("lead")).get("consent"))
        inputs = []
        for kind, subscription in self._options.subscriptions.items():
            state = STATUS_STATES.get(str(consent.get(kind, "")))
            if state is None:
                continue
            item: dict[str, Any] = {
                "subscriberIdString": email,
                "subscriptionId": subscription,
                "channel": CHANNELS.get(kind, "EMAIL"),
                "statusState": state,
            }
            if state == "SUBSCRIBED":
                # GDPR-enabled portals refuse a subscription without the basis it rests on.
                item["legalBasis"] = self._options.legal_basis
                item["legalBasisExplanation"] = self._options.legal_basis_explanation
            inputs.append(item)
        if inputs:
            plan.statuses.append(_Status(change.outbox_id, email, inputs))

    def _plan_membership(
        self, plan: _Plan, run: _Run, change: Change, fields: Mapping[str, str]
    ) -> None:
        if change.kind == kinds.JOURNEY_ENTER:
            list_key = str(_mapping(change.payload.get("journey")).get("name", ""))
        else:
            list_key = SUPPRESS_LIST
        list_id = self._options.lists.get(list_key)
        if list_id is None:
            return  # journeys belong to the marketing tool unless a HubSpot list is configured
        email = self._add_contact(plan, change, fields)
        if email is None:
            run.fail([change.outbox_id], "HubSpot contacts are keyed by email; the lead has none")
            return
        plan.memberships.append(_Membership(change.outbox_id, email, list_id))

    def _plan_task(self, plan: _Plan, run: _Run, change: Change, fields: Mapping[str, str]) -> None:
        task = _mapping(change.payload.get("task"))
        key = str(task.get("key") or "")
        if not key:
            run.fail([change.outbox_id], "task without a key")
            return
        email = self._add_contact(plan, change, fields)
        owner = str(task.get("owner") or fields.get("owner") or "")
        props = {
            TASK_KEY: key,
            "hs_task_subject": str(task.get("subject") or ""),
            "hs_task_body": str(task.get("body") or ""),
            "hs_timestamp": str(task.get("due_at") or datetime.now(UTC).isoformat()),
            "hs_task_status": "NOT_STARTED",
            "hs_task_type": "TODO",
        }
        if owner:
            props["hubspot_owner_id"] = self._options.owners.get(owner, owner)
        plan.tasks.append(_Task(change.outbox_id, key, props, email, change.uncertain))

    # -- steps --------------------------------------------------------------------------------

    async def _keep_first_touch(
        self, run: _Run, obj: str, id_property: str, writes: Sequence[_Write], first: set[str]
    ) -> None:
        """Drop first-touch properties the record already has a value for."""
        wanted = [w for w in writes if first & w.properties.keys() and run.live(w.outbox_ids)]
        for chunk in _chunks(wanted, VENDOR_MAX_BATCH):
            body = {
                "idProperty": id_property,
                "inputs": [{"id": w.key} for w in chunk],
                "properties": sorted(first | {id_property}),
            }
            try:
                answer = await self._call(run, "POST", f"/crm/v3/objects/{obj}/batch/read", body)
            except _Rejected as exc:
                for write in chunk:
                    run.fail(write.outbox_ids, exc.reason)
                continue
            by_key = {w.key.lower(): w for w in chunk}
            # Records HubSpot does not have yet come back as OBJECT_NOT_FOUND errors: all empty.
            for result in answer.get("results") or []:
                props = _mapping(result.get("properties"))
                write = by_key.get(str(props.get(id_property, "")).lower())
                if write is None:
                    continue
                for prop in first:
                    if props.get(prop) not in (None, ""):
                        write.properties.pop(prop, None)

    async def _upsert(
        self, run: _Run, obj: str, id_property: str, writes: Sequence[_Write]
    ) -> dict[str, str]:
        """Upsert records by ``id_property``; returns HubSpot's record id per key."""
        ids: dict[str, str] = {}
        live = [w for w in writes if run.live(w.outbox_ids)]
        for chunk in _chunks(live, self.max_batch):
            await self._upsert_chunk(run, obj, id_property, chunk, ids)
        return ids

    async def _upsert_chunk(
        self, run: _Run, obj: str, id_property: str, chunk: Sequence[_Write], ids: dict[str, str]
    ) -> None:
        inputs = [
            {
                "idProperty": id_property,
                "id": w.key,
                "properties": {**w.properties, id_property: w.key},
                "objectWriteTraceId": str(i),
            }
            for i, w in enumerate(chunk)
        ]
        try:
            answer = await self._call(
                run, "POST", f"/crm/v3/objects/{obj}/batch/upsert", {"inputs": inputs}
            )
        except _Rejected as exc:
            if len(chunk) == 1:
                run.fail(chunk[0].outbox_ids, exc.reason)
                return
            half = len(chunk) // 2
            await self._upsert_chunk(run, obj, id_property, chunk[:half], ids)
            await self._upsert_chunk(run, obj, id_property, chunk[half:], ids)
            return
        by_trace = {str(i): w for i, w in enumerate(chunk)}
        by_key = {w.key.lower(): w for w in chunk}
        for result in answer.get("results") or []:
            props = _mapping(result.get("properties"))
            write = by_trace.get(str(result.get("objectWriteTraceId"))) or by_key.get(
                str(props.get(id_property, "")).lower()
            )
            if write is not None and result.get("id") is not None:
                ids[write.key] = str(result["id"])
        for error in answer.get("errors") or []:
            context = _mapping(error.get("context"))
            named = [by_trace.get(str(t)) for t in context.get("objectWriteTraceId") or []]
            named += [by_key.get(str(k).lower()) for k in context.get("ids") or []]
            for write in named:
                if write is not None and write.key not in ids:
                    run.fail(write.outbox_ids, f"HubSpot {obj} upsert: {_code(error, 'category')}")
        for write in chunk:
            if write.key not in ids:
                run.fail(write.outbox_ids, f"HubSpot {obj} upsert: no result for the input")

    async def _associate(
        self,
        run: _Run,
        envelopes: Sequence[_Write],
        contact_ids: Mapping[str, str],
        envelope_ids: Mapping[str, str],
    ) -> None:
        pairs = [
            (contact_ids[w.email], envelope_ids[w.key], w)
            for w in envelopes
            if w.email is not None
            and w.email in contact_ids
            and w.key in envelope_ids
            and run.live(w.outbox_ids)
        ]
        path = (
            f"/crm/v4/associations/contacts/{self._options.envelope_object}/batch/associate/default"
        )
        for chunk in _chunks(pairs, VENDOR_MAX_BATCH):
            inputs = [{"from": {"id": c}, "to": {"id": e}} for c, e, _ in chunk]
            try:
                answer = await self._call(run, "POST", path, {"inputs": inputs})
            except _Rejected as exc:
                for _, _, write in chunk:
                    run.fail(write.outbox_ids, exc.reason)
                continue
            done = {
                (str(r.get("fromObjectId")), str(r.get("toObjectId")))
                for r in answer.get("results") or []
            }
            for contact_id, envelope_id, write in chunk:
                if (contact_id, envelope_id) not in done:
                    run.fail(write.outbox_ids, "HubSpot association: not created")

    async def _write_statuses(self, run: _Run, statuses: Sequence[_Status]) -> None:
        live = [s for s in statuses if run.live([s.outbox_id])]
        path = "/communication-preferences/v4/statuses/batch/write"
        for chunk in _chunks(live, VENDOR_MAX_BATCH):
            inputs = [item for status in chunk for item in status.inputs]
            try:
                answer = await self._call(run, "POST", path, {"inputs": inputs})
            except _Rejected as exc:
                run.fail([s.outbox_id for s in chunk], exc.reason)
                continue
            written = {
                (str(r.get("subscriberIdString", "")).lower(), str(r.get("subscriptionId")))
                for r in answer.get("results") or []
            }
            for status in chunk:
                wanted = {(status.email, str(i["subscriptionId"])) for i in status.inputs}
                if not wanted <= written:
                    run.fail([status.outbox_id], "HubSpot subscription status: not written")

    async def _add_to_lists(
        self, run: _Run, memberships: Sequence[_Membership], contact_ids: Mapping[str, str]
    ) -> None:
        by_list: dict[str, list[tuple[str, int]]] = {}
        for item in memberships:
            if run.live([item.outbox_id]) and item.email in contact_ids:
                by_list.setdefault(item.list_id, []).append(
                    (contact_ids[item.email], item.outbox_id)
                )
        for list_id, members in by_list.items():
            for chunk in _chunks(members, VENDOR_MAX_BATCH):
                record_ids = list(dict.fromkeys(r for r, _ in chunk))
                path = f"/crm/v3/lists/{list_id}/memberships/add"
                try:
                    answer = await self._call(run, "PUT", path, record_ids)
                except _Rejected as exc:
                    run.fail([o for _, o in chunk], exc.reason)
                    continue
                missing = {str(r) for r in _mapping(answer).get("recordIdsMissing") or []}
                run.fail([o for r, o in chunk if r in missing], "HubSpot list: contact missing")

    async def _existing_tasks(self, run: _Run, keys: Sequence[str]) -> set[str]:
        """Task keys HubSpot already has (an earlier attempt landed).

        HubSpot's search index trails writes by a few seconds; the engine's backoff between
        attempts is what makes a just-landed task visible here.
        """
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(keys)), VENDOR_MAX_BATCH):
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": TASK_KEY, "operator": "IN", "values": list(chunk)}
                        ]
                    }
                ],
                "properties": [TASK_KEY],
                "limit": 200,
            }
            answer = await self._call(run, "POST", "/crm/v3/objects/tasks/search", body)
            for result in answer.get("results") or []:
                found.add(str(_mapping(result.get("properties")).get(TASK_KEY)))
        return found

    async def _create_tasks(
        self, run: _Run, tasks: Sequence[_Task], contact_ids: Mapping[str, str]
    ) -> None:
        live = [t for t in tasks if run.live([t.outbox_id])]
        existing = await self._existing_tasks(run, [t.key for t in live if t.uncertain])
        for task in live:
            if task.key in existing:
                continue
            body: dict[str, Any] = {"properties": task.properties}
            contact_id = contact_ids.get(task.email) if task.email else None
            if contact_id is not None:
                body["associations"] = [
                    {
                        "to": {"id": contact_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": TASK_TO_CONTACT,
                            }
                        ],
                    }
                ]
            try:
                await self._call(run, "POST", "/crm/v3/objects/tasks", body)
            except _Rejected as exc:
                run.fail([task.outbox_id], exc.reason)
                continue
            existing.add(task.key)  # a replayed task later in the same batch is not created twice


# -- configuration ---------------------------------------------------------------------------


def _str_map(name: str, options: Mapping[str, Any], key: str) -> dict[str, str]:
    value = options.get(key, {})
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()
    ):
        raise ConfigError(f"destination {name!r}: options.{key} must map names to ids")
    return {str(k): str(v) for k, v in value.items()}


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> HubSpotConnector:
    """Build the connector from config.

    credentials: ``token`` (private app) or ``client_id``/``client_secret``/``refresh_token``
    (OAuth; ``client_id`` may be given as ``options.client_id`` instead).
    options: ``envelope_object`` (default ``deals``), ``owners`` (inkbridge owner -> HubSpot owner
    id), ``subscriptions`` (consent kind -> subscription id), ``lists`` (journey name, or
    ``suppress``, -> list id), ``legal_basis``, ``legal_basis_explanation``, ``deal_pipeline``,
    ``deal_stages`` (envelope state -> deal stage id).
    """
    creds = dest.credentials
    options = dest.options
    base = (dest.url or DEFAULT_URL).rstrip("/")

    def secret(key: str) -> str:
        return resolve_secret(creds[key]).get_secret_value()

    auth: HubSpotAuth
    if "token" in creds:
        auth = PrivateAppToken(secret("token"))
    elif {"client_secret", "refresh_token"} <= creds.keys():
        client_id = secret("client_id") if "client_id" in creds else options.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise ConfigError(f"destination {name!r}: OAuth needs a client_id")
        auth = HubSpotOAuth(
            token_url=base + "/oauth/v1/token",
            client_id=client_id,
            client_secret=secret("client_secret"),
            refresh_token=secret("refresh_token"),
            client=client,
            timeout=dest.timeout_seconds,
        )
    else:
        raise ConfigError(
            f"destination {name!r}: HubSpot needs credentials.token or "
            "credentials.client_secret + credentials.refresh_token"
        )
    subscriptions = _str_map(name, options, "subscriptions")
    if not all(v.isdigit() for v in subscriptions.values()):
        raise ConfigError(f"destination {name!r}: options.subscriptions ids must be numbers")
    envelope_object = options.get("envelope_object", "deals")
    if not isinstance(envelope_object, str) or not envelope_object:
        raise ConfigError(f"destination {name!r}: options.envelope_object must be an object type")
    pipeline = options.get("deal_pipeline")
    hub_options = HubSpotOptions(
        envelope_object=envelope_object,
        owners=_str_map(name, options, "owners"),
        subscriptions={k: int(v) for k, v in subscriptions.items()},
        lists=_str_map(name, options, "lists"),
        legal_basis=str(options.get("legal_basis", "CONSENT_WITH_NOTICE")),
        legal_basis_explanation=str(
            options.get("legal_basis_explanation", "Consent recorded by inkbridge")
        ),
        deal_pipeline=str(pipeline) if pipeline else None,
        deal_stages=_str_map(name, options, "deal_stages"),
    )
    return HubSpotConnector(
        name=name,
        base_url=base,
        client=client,
        auth=auth,
        options=hub_options,
        field_overrides=dest.fields,
        max_batch=max(1, min(dest.batch_size, VENDOR_MAX_BATCH)),
        timeout=dest.timeout_seconds,
    )
