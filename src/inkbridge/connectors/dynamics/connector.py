"""The Dynamics 365 / Dataverse destination: contacts, envelope records, consent flags and task
activities, upserted by alternate key in Web API ``$batch`` requests.

Each change becomes change sets (the writes of one change set land together or not at all;
``plan`` decides what to write):

- the contact, ``PATCH contacts(inkbridge_leadid='…')`` (an upsert by alternate key), with
  first touch only where Dataverse's value is empty (one ``GET`` per batch reads the existing
  values) and consent as ``donotbulkemail`` / ``donotphone`` (``donotemail`` too when
  configured);
- the envelope record, ``PATCH inkbridge_envelopestatuses(inkbridge_envelopeid='…')``, bound to its
  contact by the contact's alternate key;
- a task, ``PATCH tasks(inkbridge_taskkey='…')`` with ``If-None-Match: *``: create-only, so a
  retry after an unknown outcome answers 412 (already there) instead of duplicating the task
  or reopening one the owner closed.

The batch is sent with ``Prefer: odata.continue-on-error`` so one refused change set does not
stop the rest. 429 (service protection, with ``Retry-After``) and 5xx are retryable, for the
batch or for the change sets that got them; any other refusal is permanent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors._crm_batch import (
    CrmConnector,
    CrmParts,
    Outcomes,
    StepRejected,
    chunks,
    crm_parts,
    first_touch_targets,
    json_body,
    step_refusal,
    str_map,
)
from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.dynamics.batch import (
    Operation,
    OperationResult,
    decode_batch,
    encode_batch,
)
from inkbridge.connectors.dynamics.erasure import DynamicsErasure
from inkbridge.connectors.dynamics.plan import (
    CONTACT_KEY,
    ENVELOPE_KEY,
    ENVELOPE_SET,
    GUID,
    TASK_KEY,
    ChangeWrites,
    DynamicsOptions,
    DynamicsPlanner,
    odata_key,
)
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.outbound import as_mapping
from inkbridge.errors import ConfigError, RetryableError
from inkbridge.vendor_http.auth import ClientCredentialsAuth
from inkbridge.vendor_http.credentials import CredentialCheck, authenticated_get
from inkbridge.vendor_http.responses import (
    is_retryable_status,
    parse_retry_after,
    send,
)

__all__ = ["DynamicsAuth", "DynamicsConnector", "DynamicsOptions", "from_settings"]

API_PATH = "/api/data/v9.2"
# Dataverse takes up to 1,000 requests per batch; a change needs at most three.
VENDOR_MAX_BATCH = 300
DEFAULT_BATCH = 100
TOKEN_SECONDS = 3599.0


class DynamicsAuth(ClientCredentialsAuth[str]):
    """Entra ID client credentials for ``{org}/.default``, cached until shortly before the end."""

    label = "dynamics auth"
    default_lifetime = TOKEN_SECONDS


class DynamicsConnector(CrmConnector[DynamicsAuth, DynamicsOptions]):
    """``Connector`` for one Dataverse environment (``org_url`` like
    ``https://contoso.crm.dynamics.com``)."""

    vendor_max_batch = VENDOR_MAX_BATCH
    default_batch = DEFAULT_BATCH

    def __init__(
        self, *, org_url: str, **parts: Unpack[CrmParts[DynamicsAuth, DynamicsOptions]]
    ) -> None:
        super().__init__(parts, DynamicsOptions())
        self._api = org_url.rstrip("/") + API_PATH
        self._planner = DynamicsPlanner(self._options, self._field_overrides)
        self.burst_remaining: int | None = None

    async def check_credentials(self) -> CredentialCheck:
        """``WhoAmI``: the application user the token stands for (after the Entra ID token
        exchange, whose refusal counts as the credentials refused)."""
        return await authenticated_get(
            self._client,
            self.name,
            self._api + "/WhoAmI",
            what=f"GET {API_PATH}/WhoAmI",
            auth=self._auth,
            timeout=self._timeout,
            headers={"OData-MaxVersion": "4.0", "OData-Version": "4.0"},
        )

    # -- HTTP ---------------------------------------------------------------------------------

    async def _send(
        self,
        outcomes: Outcomes,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request (the auth refreshes its token once after a 401); non-2xx answers
        raise."""
        sent = {
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Accept": "application/json",
            **(headers or {}),
        }
        response = await send(
            self._client,
            self.name,
            method,
            url,
            content=content,
            headers=sent,
            auth=self._auth,
            timeout=self._timeout,
        )
        # A 401 answered before the replay is in the history: every request counts.
        outcomes.requests += 1 + len(response.history)
        burst = response.headers.get("x-ms-ratelimit-burst-remaining-xrm-requests", "")
        self.burst_remaining = int(burst) if burst.isdigit() else self.burst_remaining
        status = response.status_code
        if 200 <= status < 300:
            return response
        error = as_mapping(as_mapping(json_body(response)).get("error")).get("code")
        reason = f"{self.name} answered {status}" + (f" ({error})" if error else "")
        raise step_refusal(reason, response)

    # -- the batch ----------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        outcomes = Outcomes()
        sets = [s for s in (self._planner.plan(c, outcomes) for c in changes) if s is not None]
        contact_first = first_touch_targets(self._planner.contact_fields)
        envelope_first = first_touch_targets(self._planner.envelope_fields)
        await self._keep_first_touch(outcomes, sets, "contacts", CONTACT_KEY, contact_first)
        await self._keep_first_touch(
            outcomes, sets, self._options.envelope_entity_set, ENVELOPE_KEY, envelope_first
        )
        wait: float | None = None
        live = [s for s in sets if outcomes.live([s.change.outbox_id])]
        for chunk in chunks(live, self.max_batch):
            chunk_wait = await self._send_batch(outcomes, chunk)
            wait = max(wait or 0.0, chunk_wait) if chunk_wait is not None else wait
        meta = {"requests": outcomes.requests, "burst_remaining": self.burst_remaining}
        return BatchResult(outcomes.results(changes), retry_after=wait, meta=meta)

    async def _keep_first_touch(
        self,
        outcomes: Outcomes,
        sets: Sequence[ChangeWrites],
        entity_set: str,
        key: str,
        first: set[str],
    ) -> None:
        """Drop first-touch columns Dataverse already holds (one GET per batch and table)."""
        by_key: dict[str, list[dict[str, Any]]] = {}
        involved: list[int] = []
        for item in sets:
            body = item.contact if entity_set == "contacts" else item.envelope
            record_key = item.lead_id if entity_set == "contacts" else item.envelope_id
            if body is not None and record_key and first & body.keys():
                by_key.setdefault(record_key, []).append(body)
                involved.append(item.change.outbox_id)
        if not by_key:
            return
        literals = (f"{key} eq '{k.replace(chr(39), chr(39) * 2)}'" for k in by_key)
        params = {"$select": ",".join(sorted(first | {key})), "$filter": " or ".join(literals)}
        url: str | None = f"{self._api}/{entity_set}?" + str(httpx.QueryParams(params))
        rows: list[Mapping[str, Any]] = []
        try:
            while url:
                answer = as_mapping(json_body(await self._send(outcomes, "GET", url)))
                rows += [as_mapping(r) for r in answer.get("value") or []]
                next_link = answer.get("@odata.nextLink")
                url = next_link if isinstance(next_link, str) else None
        except StepRejected as exc:
            outcomes.fail(involved, exc.reason)
            return
        for row in rows:
            for body in by_key.get(str(row.get(key)), []):
                for column in first:
                    if row.get(column) not in (None, ""):
                        body.pop(column, None)

    def _changesets(self, item: ChangeWrites) -> list[list[Operation]]:
        """The change sets of one change: contact and envelope together (atomic), the task on
        its own, so that its 412 "already there" does not roll back the contact update."""
        records = []
        if item.contact is not None and item.lead_id:
            url = f"{self._api}/{odata_key('contacts', CONTACT_KEY, item.lead_id)}"
            records.append(Operation("PATCH", url, item.contact))
        if item.envelope is not None and item.envelope_id:
            entity = odata_key(self._options.envelope_entity_set, ENVELOPE_KEY, item.envelope_id)
            records.append(Operation("PATCH", f"{self._api}/{entity}", item.envelope))
        sets = [records] if records else []
        if item.task is not None and item.task_key:
            url = f"{self._api}/{odata_key('tasks', TASK_KEY, item.task_key)}"
            sets.append([Operation("PATCH", url, item.task, {"If-None-Match": "*"})])
        return sets

    async def _send_batch(self, outcomes: Outcomes, chunk: Sequence[ChangeWrites]) -> float | None:
        """Send one ``$batch``; returns the longest ``Retry-After`` a change set got."""
        owners: list[ChangeWrites] = []
        changesets: list[list[Operation]] = []
        for item in chunk:
            for operations in self._changesets(item):
                owners.append(item)
                changesets.append(operations)
        content_type, body = encode_batch(changesets)
        headers = {"Content-Type": content_type, "Prefer": "odata.continue-on-error"}
        try:
            response = await self._send(
                outcomes, "POST", f"{self._api}/$batch", content=body, headers=headers
            )
        except StepRejected as exc:
            outcomes.fail([item.change.outbox_id for item in chunk], exc.reason)
            return None
        try:
            groups = decode_batch(response.headers.get("content-type", ""), response.content)
        except ValueError:
            raise RetryableError(f"{self.name} answered a $batch that is not multipart") from None
        wait: float | None = None
        for index, (item, operations) in enumerate(zip(owners, changesets, strict=True)):
            outbox_id = item.change.outbox_id
            if index >= len(groups) or not groups[index]:
                # The batch stopped before this change set: nothing of it was written.
                outcomes.fail([outbox_id], f"{self.name}: no answer for the change", True)
                continue
            failure = _failure(operations, groups[index])
            if failure is None:
                continue
            retryable = is_retryable_status(failure.status)
            if failure.status == 429:
                after = parse_retry_after(failure.headers.get("retry-after"))
                wait = max(wait or 0.0, after or 0.0)
            code = failure.error_code or "no code"
            outcomes.fail([outbox_id], f"Dynamics {failure.status} ({code})", retryable)
        return wait


def _failure(
    operations: Sequence[Operation], results: Sequence[OperationResult]
) -> OperationResult | None:
    """The response that failed a change set, or None when all of it was written.

    A rolled-back change set answers with its one failing response only.
    """
    if len(results) != len(operations):
        return next((r for r in results if not 200 <= r.status < 300), results[0])
    for operation, result in zip(operations, results, strict=True):
        create_only = operation.headers.get("If-None-Match") == "*"
        # 412 on a create-only write: the record is already there, which is what we wanted.
        if not (200 <= result.status < 300 or (result.status == 412 and create_only)):
            return result
    return None


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> ErasingConnector:
    """Build the connector from config.

    ``url``: the environment URL (``https://contoso.crm.dynamics.com``, required).
    credentials: ``client_secret``. options: ``tenant_id``, ``client_id`` (required);
    ``token_url`` (default the Entra ID v2 token endpoint of the tenant), ``envelope_entity_set``
    (default ``inkbridge_envelopestatuses``), ``envelope_contact_lookup`` (``inkbridge_contact``),
    ``owners`` (inkbridge owner -> systemuser id), ``donotemail_on_withdrawal`` (false).
    """
    creds, options = dest.credentials, dest.options
    if not dest.url:
        raise ConfigError(f"destination {name!r}: Dynamics needs url (the environment URL)")
    org_url = dest.url.rstrip("/")
    values = {}
    for key in ("tenant_id", "client_id"):
        value = options.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"destination {name!r}: Dynamics needs options.{key}")
        values[key] = value
    if "client_secret" not in creds:
        raise ConfigError(f"destination {name!r}: Dynamics needs credentials.client_secret")
    token_url = options.get(
        "token_url", f"https://login.microsoftonline.com/{values['tenant_id']}/oauth2/v2.0/token"
    )
    auth = DynamicsAuth(
        token_url=str(token_url),
        client_id=values["client_id"],
        client_secret=resolve_secret(creds["client_secret"]).get_secret_value(),
        scope=f"{org_url}/.default",
        client=client,
        timeout=dest.timeout_seconds,
    )
    owners = str_map(name, options, "owners")
    if not all(GUID.match(v) for v in owners.values()):
        raise ConfigError(f"destination {name!r}: options.owners must map to systemuser ids")
    dyn_options = DynamicsOptions(
        envelope_entity_set=str(options.get("envelope_entity_set", ENVELOPE_SET)),
        envelope_contact_lookup=str(options.get("envelope_contact_lookup", "inkbridge_contact")),
        owners=owners,
        donotemail_on_withdrawal=bool(options.get("donotemail_on_withdrawal", False)),
    )
    connector = DynamicsConnector(
        org_url=org_url, **crm_parts(name, dest, client, auth, dyn_options, VENDOR_MAX_BATCH)
    )
    eraser = DynamicsErasure(
        name=name,
        api_url=org_url + API_PATH,
        client=client,
        auth=auth,
        timeout=dest.timeout_seconds,
    )
    return ErasingConnector(connector, eraser)
