"""The Salesforce destination: envelope records, Leads (or Contacts), consent and Tasks written
with sObject Collections upserts by inkbridge-owned External ID fields (``plan``
decides what to write).

Shapes:

- envelope records: a custom object shaped like the DocuSign managed package's
  ``dsfs__DocuSign_Status__c`` (status, sent/viewed/signed/completed/declined/voided times, a
  lookup to the Lead), default ``Inkbridge_Envelope__c`` keyed by ``Inkbridge_Envelope_Id__c``;
- people: ``Lead`` (or ``Contact``) keyed by ``Inkbridge_Lead_Id__c``, first touch written only
  where Salesforce's value is empty (one SOQL query per batch reads the existing values, and
  tells which Leads are new and need their required fields);
- consent: an ``Individual`` per lead, a ``ContactPointTypeConsent`` per channel kind
  (``OptIn``/``OptOut``), and ``HasOptedOutOfEmail`` on the Lead;
- tasks: ``Task`` keyed by ``Inkbridge_Task_Key__c``, so a retry upserts instead of duplicating.

Every call is ``allOrNone: false`` with at most 200 records: each record gets its own result.
``UNABLE_TO_LOCK_ROW`` is retryable per record, ``REQUEST_LIMIT_EXCEEDED`` is retryable for the
batch with a long wait, ``INVALID_SESSION_ID`` gets one token refresh; every other error is
permanent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack
from urllib.parse import urlsplit

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors._crm_batch import (
    CrmConnector,
    CrmParts,
    MergedRecord,
    Outcomes,
    StepRejected,
    crm_parts,
    first_touch_targets,
    json_body,
    short_code,
    step_refusal,
    str_map,
)
from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.outbound import as_mapping
from inkbridge.connectors.salesforce.auth import (
    SESSION_SECONDS,
    SalesforceAuth,
    SalesforceClientCredentials,
    SalesforceJwtAuth,
)
from inkbridge.connectors.salesforce.credentials import check_limits
from inkbridge.connectors.salesforce.erasure import SalesforceErasure
from inkbridge.connectors.salesforce.plan import (
    API_VERSION,
    CONSENT_KEY,
    ENVELOPE_KEY,
    ENVELOPE_OBJECT,
    INDIVIDUAL_KEY,
    LEAD_KEY,
    LIMIT_RETRY_SECONDS,
    NOT_PROVIDED,
    TASK_KEY,
    SalesforceOptions,
    SalesforcePlanner,
)
from inkbridge.errors import ConfigError, RetryableError
from inkbridge.vendor_http.credentials import CredentialCheck
from inkbridge.vendor_http.responses import (
    retry_after,
    send,
)

__all__ = [
    "SalesforceClientCredentials",
    "SalesforceConnector",
    "SalesforceJwtAuth",
    "SalesforceOptions",
    "from_settings",
    "soql_quote",
]

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
VENDOR_MAX_BATCH = 200
SHARED_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, so data cannot change the query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def error_code(body: Any) -> str:
    """Salesforce's error code: REST errors are ``[{message, errorCode}]``, record errors
    ``[{statusCode, message, fields}]``, OAuth errors ``{error, error_description}``."""
    first = body[0] if isinstance(body, list) and body else body
    found = (short_code(as_mapping(first).get(k)) for k in ("errorCode", "statusCode", "error"))
    return next((c for c in found if c), "unknown")


def api_usage(headers: httpx.Headers) -> tuple[int, int] | None:
    """``Sforce-Limit-Info: api-usage=25/15000`` as (used, limit)."""
    for part in headers.get("sforce-limit-info", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "api-usage":
            used, _, limit = value.partition("/")
            if used.isdigit() and limit.isdigit():
                return int(used), int(limit)
    return None


class SalesforceConnector(CrmConnector[SalesforceAuth, SalesforceOptions]):
    """``Connector`` for one Salesforce org (``base_url``: the instance the session names)."""

    vendor_max_batch = default_batch = VENDOR_MAX_BATCH

    def __init__(
        self,
        *,
        base_url: str | None = None,
        **parts: Unpack[CrmParts[SalesforceAuth, SalesforceOptions]],
    ) -> None:
        super().__init__(parts, SalesforceOptions())
        self._base = base_url.rstrip("/") if base_url else None
        self._planner = SalesforcePlanner(self._options, self._field_overrides)
        self.api_usage: tuple[int, int] | None = None

    async def check_credentials(self) -> CredentialCheck:
        version = self._options.api_version
        args = (self._client, self.name, self._auth, self._base, version, self._timeout)
        return await check_limits(*args)

    async def _call(
        self,
        outcomes: Outcomes,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One REST call under ``/services/data/<version>``; the auth fetches a new session
        once after a 401 (``INVALID_SESSION_ID``: the session timed out)."""
        session = await self._auth.session()
        base = self._base or session.instance_url
        response = await send(
            self._client,
            self.name,
            method,
            f"{base}/services/data/{self._options.api_version}{path}",
            json=body,
            params=params,
            auth=self._auth,
            timeout=self._timeout,
        )
        # A 401 answered before the replay is in the history: every request counts.
        outcomes.requests += 1 + len(response.history)
        self.api_usage = api_usage(response.headers) or self.api_usage
        status = response.status_code
        data = json_body(response)
        if 200 <= status < 300:
            return data
        code = error_code(data)
        reason = f"{self.name} answered {status} ({code})"
        if code == "REQUEST_LIMIT_EXCEEDED":
            wait = retry_after(response) or self._options.limit_retry_seconds
            raise RetryableError(reason, retry_after=wait)
        raise step_refusal(reason, response)

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        outcomes = Outcomes()
        plan = self._planner.plan(changes, outcomes)
        person, envelope = self._options.person_object, self._options.envelope_object
        await self._complete_people(outcomes, plan.people)
        envelope_first = first_touch_targets(self._planner.envelope_fields)
        await self._keep_first_touch(
            outcomes, envelope, ENVELOPE_KEY, plan.envelopes, envelope_first
        )
        # Parents before children: a lookup by External ID needs its parent to exist already.
        await self._upsert(outcomes, "Individual", INDIVIDUAL_KEY, plan.individuals)
        await self._upsert(outcomes, person, LEAD_KEY, plan.people)
        await self._upsert(outcomes, envelope, ENVELOPE_KEY, plan.envelopes)
        await self._upsert(outcomes, "ContactPointTypeConsent", CONSENT_KEY, plan.consents)
        await self._upsert(outcomes, "Task", TASK_KEY, plan.tasks)
        meta: dict[str, Any] = {"requests": outcomes.requests}
        if self.api_usage is not None:
            meta["api_used"], meta["api_limit"] = self.api_usage
        return BatchResult(outcomes.results(changes), meta=meta)

    async def _query(self, outcomes: Outcomes, soql: str) -> list[Mapping[str, Any]]:
        answer = as_mapping(await self._call(outcomes, "GET", "/query", params={"q": soql}))
        rows = list(answer.get("records") or [])
        prefix = f"/services/data/{self._options.api_version}"
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            path = str(answer["nextRecordsUrl"]).removeprefix(prefix)
            answer = as_mapping(await self._call(outcomes, "GET", path))
            rows.extend(answer.get("records") or [])
        return [as_mapping(r) for r in rows]

    async def _current(
        self,
        outcomes: Outcomes,
        sobject: str,
        key_field: str,
        records: Mapping[str, MergedRecord],
        fields: set[str],
    ) -> dict[str, Mapping[str, Any]] | None:
        """The current ``fields`` of these records, by key, in one SOQL query (None on a 4xx,
        which has failed the records' changes)."""
        live = [k for k, r in records.items() if outcomes.live(r.outbox_ids)]
        if not live:
            return {}
        select = ", ".join(sorted(fields | {key_field}))
        keys = ", ".join(soql_quote(k) for k in live)
        # Object and field names come from config; every value went through soql_quote.
        soql = f"SELECT {select} FROM {sobject} WHERE {key_field} IN ({keys})"  # noqa: S608 - SOQL
        try:
            rows = await self._query(outcomes, soql)
        except StepRejected as exc:
            for record in records.values():
                outcomes.fail(record.outbox_ids, exc.reason)
            return None
        return {str(row.get(key_field)): row for row in rows}

    async def _complete_people(
        self, outcomes: Outcomes, people: Mapping[str, MergedRecord]
    ) -> None:
        """Drop first touch Salesforce already holds; give new Leads their required fields."""
        first = first_touch_targets(self._planner.person_fields)
        person = self._options.person_object
        required = ("LastName", "Company") if person == "Lead" else ("LastName",)
        current = await self._current(outcomes, person, LEAD_KEY, people, first)
        if current is None:
            return
        for key, record in people.items():
            row = current.get(key)
            if row is None:
                for name in required:
                    if not record.fields.get(name):
                        record.fields[name] = NOT_PROVIDED
                continue
            for name in first:
                if row.get(name) not in (None, ""):
                    record.fields.pop(name, None)

    async def _keep_first_touch(
        self,
        outcomes: Outcomes,
        sobject: str,
        key_field: str,
        records: Mapping[str, MergedRecord],
        first: set[str],
    ) -> None:
        """Drop first-touch fields the envelope records already hold (only when mapped)."""
        wanted = {k: r for k, r in records.items() if first & r.fields.keys()}
        if not wanted:
            return
        for key, row in (
            await self._current(outcomes, sobject, key_field, wanted, first) or {}
        ).items():
            for name in first:
                if row.get(name) not in (None, ""):
                    wanted[key].fields.pop(name, None)

    async def _upsert(
        self, outcomes: Outcomes, sobject: str, key_field: str, records: Mapping[str, MergedRecord]
    ) -> None:
        # Children of one parent are sent next to each other: Salesforce locks the parent of
        # every child it writes, so spreading one Lead's envelopes or tasks over several
        # requests (or workers) makes them wait on each other and fail UNABLE_TO_LOCK_ROW.
        live = sorted(
            (r for r in records.values() if outcomes.live(r.outbox_ids)),
            key=lambda r: (r.parent, r.key),
        )
        path = f"/composite/sobjects/{sobject}/{key_field}"
        for start in range(0, len(live), self.max_batch):
            chunk = live[start : start + self.max_batch]
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": sobject}, **r.fields, key_field: r.key} for r in chunk
                ],
            }
            try:
                answer = await self._call(outcomes, "PATCH", path, body)
            except StepRejected as exc:
                for record in chunk:
                    outcomes.fail(record.outbox_ids, exc.reason)
                continue
            # One result per record, in request order.
            results = answer if isinstance(answer, list) else []
            for index, record in enumerate(chunk):
                result = as_mapping(results[index]) if index < len(results) else {}
                if result.get("success") is True:
                    continue
                code = error_code(result.get("errors") or [{"statusCode": "NO_RESULT"}])
                # A row lock clears once the other transaction commits: worth another try.
                locked = code == "UNABLE_TO_LOCK_ROW"
                outcomes.fail(record.outbox_ids, f"Salesforce {sobject}: {code}", locked)


def _option(name: str, options: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = options.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"destination {name!r}: Salesforce needs options.{key}")
    return value


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> ErasingConnector:
    """Build the connector from config.

    JWT bearer: ``credentials.private_key`` + ``options.client_id``, ``options.username``,
    ``options.login_url`` (default https://login.salesforce.com). Client credentials:
    ``credentials.client_secret`` + ``options.client_id`` + ``options.login_url`` (the My Domain
    URL). ``url``: the instance URL (default: the one the token answer names).
    options: ``api_version`` (v60.0), ``envelope_object``, ``person_object`` (Lead|Contact),
    ``owners`` (inkbridge owner -> User id), ``data_use_purposes`` (consent kind ->
    DataUsePurpose id), ``session_seconds``, ``limit_retry_seconds``.
    """
    creds, options = dest.credentials, dest.options
    login_url = _option(name, options, "login_url", DEFAULT_LOGIN_URL)
    client_id = _option(name, options, "client_id")
    common: dict[str, Any] = {
        "login_url": login_url,
        "client": client,
        "timeout": dest.timeout_seconds,
        "session_seconds": float(options.get("session_seconds", SESSION_SECONDS)),
    }
    auth: SalesforceAuth
    if "private_key" in creds:
        auth = SalesforceJwtAuth(
            client_id=client_id,
            username=_option(name, options, "username"),
            private_key_pem=resolve_secret(creds["private_key"]).get_secret_value(),
            **common,
        )
    elif "client_secret" in creds:
        if urlsplit(login_url).hostname in SHARED_LOGIN_HOSTS:
            raise ConfigError(
                f"destination {name!r}: the client credentials flow needs the org's My Domain "
                "URL as options.login_url"
            )
        auth = SalesforceClientCredentials(
            client_id=client_id,
            client_secret=resolve_secret(creds["client_secret"]).get_secret_value(),
            **common,
        )
    else:
        raise ConfigError(
            f"destination {name!r}: Salesforce needs credentials.private_key (JWT bearer) or "
            "credentials.client_secret (client credentials)"
        )
    person = _option(name, options, "person_object", "Lead")
    if person not in {"Lead", "Contact"}:
        raise ConfigError(f"destination {name!r}: options.person_object must be Lead or Contact")
    sf_options = SalesforceOptions(
        api_version=_option(name, options, "api_version", API_VERSION),
        envelope_object=_option(name, options, "envelope_object", ENVELOPE_OBJECT),
        person_object=person,
        owners=str_map(name, options, "owners"),
        data_use_purposes=str_map(name, options, "data_use_purposes"),
        limit_retry_seconds=float(options.get("limit_retry_seconds", LIMIT_RETRY_SECONDS)),
    )
    connector = SalesforceConnector(
        base_url=dest.url, **crm_parts(name, dest, client, auth, sf_options, VENDOR_MAX_BATCH)
    )
    eraser = SalesforceErasure(
        name=name,
        client=client,
        auth=auth,
        person_object=person,
        api_version=sf_options.api_version,
        base_url=dest.url,
        timeout=dest.timeout_seconds,
    )
    return ErasingConnector(connector, eraser)
