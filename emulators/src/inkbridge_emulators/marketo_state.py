"""The Marketo emulator's state: leads, static-list memberships and campaign requests in a
``DocumentStore``, access tokens, and the rules Marketo applies to them. ``emulators.marketo``
serves it over HTTP.

Kept on purpose: a lead upsert resolves every lookup against the state before writing, so two
records with the same new key in one request (or in requests that overlap, see ``write_delay``)
create two leads, which is how Marketo ends up with duplicates; a later upsert of that key is
then skipped with 1007 (several leads match).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inkbridge_emulators._marketing_common import (
    Concurrency,
    DailyBudget,
    DocumentStore,
    SlidingWindow,
    Traffic,
    now_iso,
)
from inkbridge_emulators.faults import FaultGate

MAX_LEADS_PER_CALL = 300
MAX_CAMPAIGN_LEADS = 100
RATE_WINDOW_SECONDS = 20.0
STANDARD_FIELDS = frozenset(
    {"id", "email", "firstName", "lastName", "company", "unsubscribed", "unsubscribedReason"}
)
DEFAULT_CLIENT_ID = "marketo-emulator-client"
DEFAULT_CLIENT_SECRET = "marketo-emulator-secret"  # noqa: S105 - a test fixture, not a secret


@dataclass
class MarketoLimits:
    """Marketo's default subscription limits (all configurable, None switches one off)."""

    calls_per_20s: int | None = 100
    concurrent: int | None = 10
    daily_quota: int | None = 50_000


class MarketoError(Exception):
    """A response-level error: HTTP 200 with ``success: false`` and this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ForcedErrors:
    """Response-level codes to answer the next REST calls with (``POST /_errors``)."""

    code: str = ""
    remaining: int = 0

    def take(self) -> str | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.code


def _reason(code: str, message: str) -> dict[str, Any]:
    return {"status": "skipped", "reasons": [{"code": code, "message": message}]}


def _key(value: Any) -> str:
    return str(value).strip().lower()


@dataclass
class MarketoEmulator:
    """Marketo's leads, lists, campaigns, tokens and limits (``app.state.emulator``).

    ``custom_fields`` None accepts any field; a set makes unknown fields skip records with 1006.
    ``lists``/``campaigns`` None accept any id; a set answers 1013 for others.
    """

    store: DocumentStore
    faults: FaultGate  # rendered in the vendor's error format
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    limits: MarketoLimits = field(default_factory=MarketoLimits)
    custom_fields: frozenset[str] | None = None
    dedupe_fields: frozenset[str] = frozenset({"email", "inkbridgeLeadId"})
    lists: frozenset[int] | None = None
    campaigns: frozenset[int] | None = None
    token_ttl: int = 3600
    write_delay: float = 0.0

    def __post_init__(self) -> None:
        self.forced = ForcedErrors()
        self.traffic = Traffic()
        self.window = SlidingWindow(self.limits.calls_per_20s, RATE_WINDOW_SECONDS)
        self.concurrency = Concurrency(self.limits.concurrent)
        self.quota = DailyBudget(self.limits.daily_quota)
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self.duplicates_created = 0
        # Every lead delete call that got past faults, auth and limits, for tests to count.
        self.lead_deletes: list[dict[str, Any]] = []

    # -- auth ----------------------------------------------------------------------------------

    def issue_token(self, client_id: str | None, client_secret: str | None) -> dict[str, Any]:
        if client_id != self.client_id or client_secret != self.client_secret:
            raise PermissionError("Bad client credentials")
        token = f"{secrets.token_hex(16)}:int"
        self.tokens[token] = time.time() + self.token_ttl
        self.tokens_issued += 1
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_ttl - 1,
            "scope": "api@inkbridge.test",
        }

    def check_token(self, token: str | None) -> None:
        if not token:
            raise MarketoError("600", "Access token not specified")
        expires = self.tokens.get(token)
        if expires is None:
            raise MarketoError("601", "Access token invalid")
        if expires <= time.time():
            raise MarketoError("602", "Access token expired")

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    # -- leads ---------------------------------------------------------------------------------

    @property
    def leads(self) -> dict[int, dict[str, Any]]:
        return {int(lead["id"]): lead for lead in self.store.all("lead")}

    def leads_by(self, field_name: str, value: Any) -> list[dict[str, Any]]:
        return [
            lead
            for lead in self.store.all("lead")
            if lead.get(field_name) is not None and _key(lead[field_name]) == _key(value)
        ]

    def _record_problem(self, record: Mapping[str, Any], lookup: str) -> dict[str, Any] | None:
        if self.custom_fields is not None:
            for name in record:
                if name not in STANDARD_FIELDS and name not in self.custom_fields:
                    return _reason("1006", f"Field '{name}' not found")
        if record.get(lookup) in (None, ""):
            return _reason("1003", f"Value for lookup field '{lookup}' not specified")
        email = record.get("email")
        if email is not None and "@" not in str(email):
            return _reason("1003", "Invalid email address")
        return None

    async def upsert_leads(
        self, action: str, lookup: str, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        if action not in {"createOrUpdate", "createOnly", "updateOnly"}:
            raise MarketoError("1003", f"Invalid action '{action}'")
        if lookup not in self.dedupe_fields and lookup != "id":
            raise MarketoError("1003", f"Invalid lookupField '{lookup}'")
        if not 1 <= len(records) <= MAX_LEADS_PER_CALL:
            raise MarketoError("1003", f"input must hold 1 to {MAX_LEADS_PER_CALL} records")
        # Lookups resolve against the state as it was when the call arrived (see module doc).
        matches = [self.leads_by(lookup, r.get(lookup)) for r in records]
        if self.write_delay:
            await asyncio.sleep(self.write_delay)
        results: list[dict[str, Any]] = []
        for record, found in zip(records, matches, strict=True):
            problem = self._record_problem(record, lookup)
            if problem is not None:
                results.append(problem)
            elif len(found) > 1:
                results.append(_reason("1007", "Multiple lead match lookup criteria"))
            elif found and action != "createOnly":
                lead = self.leads[int(found[0]["id"])]
                lead.update({k: v for k, v in record.items() if k != "id"})
                lead["updatedAt"] = now_iso()
                self.store.put("lead", lead["id"], lead)
                results.append({"id": lead["id"], "status": "updated"})
            elif found:
                results.append(_reason("1005", "Lead already exists"))
            elif action == "updateOnly":
                results.append(_reason("1004", "Lead not found"))
            else:
                if self.leads_by(lookup, record.get(lookup)):
                    self.duplicates_created += 1
                lead_id = self.store.next_id("lead")
                at = now_iso()
                lead = {**record, "id": lead_id, "createdAt": at, "updatedAt": at}
                self.store.put("lead", lead_id, lead)
                results.append({"id": lead_id, "status": "created"})
        return results

    def read_leads(
        self, filter_type: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        if filter_type not in self.dedupe_fields and filter_type != "id":
            raise MarketoError("1003", f"Invalid filterType '{filter_type}'")
        if not 1 <= len(values) <= MAX_LEADS_PER_CALL:
            raise MarketoError("1003", f"filterValues must hold 1 to {MAX_LEADS_PER_CALL} values")
        wanted = list(fields) or ["email", "firstName", "lastName", "updatedAt", "createdAt"]
        found: list[dict[str, Any]] = []
        for value in values:
            for lead in self.leads_by(filter_type, value):
                found.append({"id": lead["id"], **{f: lead.get(f) for f in wanted if f != "id"}})
        return found

    def delete_leads(self, lead_ids: Sequence[Any]) -> list[dict[str, Any]]:
        """Delete leads by id with their list memberships; one lead Marketo does not have
        (or no longer has) is skipped with 1004."""
        if not 1 <= len(lead_ids) <= MAX_LEADS_PER_CALL:
            raise MarketoError("1003", f"input must hold 1 to {MAX_LEADS_PER_CALL} leads")
        results = []
        for lead_id in lead_ids:
            found = self.store.get("lead", str(lead_id)) is not None
            self.lead_deletes.append({"id": lead_id, "deleted": found, "at": now_iso()})
            if not found:
                results.append({"id": lead_id, **_reason("1004", "Lead not found")})
                continue
            self.store.delete("lead", str(lead_id))
            for row in self.store.all("list_member"):
                if str(row["lead_id"]) == str(lead_id):
                    self.store.delete("list_member", f"{row['list_id']}:{row['lead_id']}")
            results.append({"id": lead_id, "status": "deleted"})
        return results

    # -- lists and campaigns -------------------------------------------------------------------

    @property
    def list_members(self) -> dict[int, list[int]]:
        members: dict[int, list[int]] = {}
        for row in self.store.all("list_member"):
            members.setdefault(int(row["list_id"]), []).append(int(row["lead_id"]))
        return members

    @property
    def campaign_runs(self) -> list[dict[str, Any]]:
        return self.store.all("campaign_run")

    def add_to_list(self, list_id: int, lead_ids: Sequence[Any]) -> list[dict[str, Any]]:
        if self.lists is not None and list_id not in self.lists:
            raise MarketoError("1013", "Static list not found")
        if not 1 <= len(lead_ids) <= MAX_LEADS_PER_CALL:
            raise MarketoError("1003", f"input must hold 1 to {MAX_LEADS_PER_CALL} leads")
        results = []
        for lead_id in lead_ids:
            if self.store.get("lead", str(lead_id)) is None:
                results.append({"id": lead_id, **_reason("1004", "Lead not found")})
                continue
            member = {"list_id": list_id, "lead_id": lead_id, "at": now_iso()}
            self.store.put("list_member", f"{list_id}:{lead_id}", member)
            results.append({"id": lead_id, "status": "added"})
        return results

    def trigger_campaign(self, campaign_id: int, lead_ids: Sequence[Any]) -> None:
        if self.campaigns is not None and campaign_id not in self.campaigns:
            raise MarketoError("1013", "Campaign not found")
        if not 1 <= len(lead_ids) <= MAX_CAMPAIGN_LEADS:
            raise MarketoError("1003", f"leads must hold 1 to {MAX_CAMPAIGN_LEADS} leads")
        for lead_id in lead_ids:
            run = {"campaign_id": campaign_id, "lead_id": lead_id, "at": now_iso()}
            self.store.put("campaign_run", self.store.next_id("campaign_run"), run)

    # -- inspection ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "leads": list(self.leads.values()),
            "lists": {str(k): v for k, v in self.list_members.items()},
            "campaign_runs": self.campaign_runs,
            "duplicates_created": self.duplicates_created,
            "tokens_issued": self.tokens_issued,
            "requests": self.traffic.stats(),
            "limits": {
                "calls_per_20s": self.window.stats(),
                "concurrency": self.concurrency.stats(),
                "daily_quota": self.quota.stats(),
            },
            "max_requests_in_window": self.window.max_seen_in_window,
            "deletes": list(self.lead_deletes),
        }

    def reset(self) -> None:
        self.store.reset()
        self.__post_init__()
