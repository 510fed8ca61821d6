"""The Pipedrive emulator's state: deals, persons and activities in a ``DocumentStore``, the
rules Pipedrive applies to them (required fields, ``marketing_status`` transitions, search that
lags behind writes) and its rate limits. ``emulators.pipedrive`` serves it over HTTP.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from inkbridge_emulators._marketing_common import (
    DailyBudget,
    DocumentStore,
    SlidingWindow,
    Traffic,
    bearer_token,
    now_iso,
)
from inkbridge_emulators.faults import FaultGate

BURST_WINDOW_SECONDS = 2.0
TOKEN_COSTS = {"get": 2, "list": 20, "write": 10, "search": 40}
MARKETING_STATUSES = frozenset({"no_consent", "unsubscribed", "subscribed", "archived"})
# Which marketing_status changes Pipedrive accepts; any other is ignored without an error.
MARKETING_TRANSITIONS = {
    "no_consent": frozenset({"subscribed", "unsubscribed"}),
    "subscribed": frozenset({"unsubscribed", "archived"}),
    "archived": frozenset({"subscribed", "unsubscribed"}),
    "unsubscribed": frozenset(),
}
DEFAULT_API_TOKEN = "pipedrive-emulator-token"  # noqa: S105 - a test fixture, not a secret


@dataclass
class PipedriveLimits:
    """Pipedrive's limits (None switches one off); defaults are an Essential plan api_token."""

    burst_per_2s: int | None = 20
    search_burst_per_2s: int | None = 10
    daily_token_budget: int | None = 30_000
    search_lag_seconds: float = 0.0


class PipedriveRefusal(Exception):
    """An error Pipedrive answers as ``{"success": false, "error"}`` with this status."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored record as the API shows it (bookkeeping keys start with ``_``)."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def _matches(value: Any, term: str, exact: bool) -> bool:
    if value is None:
        return False
    text = str(value).lower()
    return text == term if exact else term in text


class PipedriveEmulator:
    """Pipedrive's records and limits (``app.state.emulator``)."""

    def __init__(
        self,
        store: DocumentStore,
        faults: FaultGate,
        *,
        api_token: str | None = DEFAULT_API_TOKEN,
        access_token: str | None = None,
        limits: PipedriveLimits | None = None,
    ) -> None:
        self.store = store
        self.faults = faults  # rendered in Pipedrive's error format
        self.api_token = api_token
        self.access_token = access_token
        self.limits = limits or PipedriveLimits()
        self.traffic = Traffic()
        self.burst = SlidingWindow(self.limits.burst_per_2s, BURST_WINDOW_SECONDS)
        self.search_burst = SlidingWindow(self.limits.search_burst_per_2s, BURST_WINDOW_SECONDS)
        self.budget = DailyBudget(self.limits.daily_token_budget)
        self.unauthorized_total = 0
        # Every DELETE of a person that got past faults, auth and limits, for tests to count.
        self.person_deletes: list[dict[str, Any]] = []

    # -- records -------------------------------------------------------------------------------

    @property
    def deals(self) -> dict[int, dict[str, Any]]:
        return {int(d["id"]): public(d) for d in self.store.all("deal")}

    @property
    def persons(self) -> dict[int, dict[str, Any]]:
        return {int(p["id"]): public(p) for p in self.store.all("person")}

    @property
    def activities(self) -> dict[int, dict[str, Any]]:
        return {int(a["id"]): public(a) for a in self.store.all("activity")}

    def record(self, kind: str, record_id: int) -> dict[str, Any]:
        found = self.store.get(kind, record_id)
        if found is None:
            raise PipedriveRefusal(404, f"{kind.capitalize()} not found")
        return found

    def _searchable(self, doc: dict[str, Any]) -> bool:
        return time.time() - float(doc.get("_indexed_at", 0.0)) >= self.limits.search_lag_seconds

    def create_deal(self, body: dict[str, Any]) -> dict[str, Any]:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise PipedriveRefusal(400, "Validation failed: title: Required")
        deal_id = self.store.next_id("deal")
        at = now_iso()
        deal = {
            "id": deal_id,
            "title": title,
            "status": "open",
            "person_id": body.get("person_id"),
            "owner_id": body.get("owner_id"),
            "custom_fields": dict(body.get("custom_fields") or {}),
            "is_deleted": False,
            "add_time": at,
            "update_time": at,
            "_indexed_at": time.time(),
        }
        self.store.put("deal", deal_id, deal)
        return public(deal)

    def update_deal(self, deal_id: int, body: dict[str, Any]) -> dict[str, Any]:
        deal = self.record("deal", deal_id)
        for key in ("title", "person_id", "owner_id", "status"):
            if key in body:
                deal[key] = body[key]
        deal["custom_fields"] = {**deal["custom_fields"], **(body.get("custom_fields") or {})}
        deal["update_time"] = now_iso()
        self.store.put("deal", deal_id, deal)
        return public(deal)

    def search_deals(self, term: str, exact: bool) -> list[dict[str, Any]]:
        items = []
        for deal in self.store.all("deal"):
            values = [v for v in deal["custom_fields"].values() if v is not None]
            if self._searchable(deal) and any(_matches(v, term, exact) for v in values):
                item = {
                    "id": deal["id"],
                    "type": "deal",
                    "title": deal["title"],
                    "status": deal["status"],
                    "person": {"id": deal["person_id"]} if deal["person_id"] else None,
                    "custom_fields": [str(v) for v in values],
                }
                items.append({"result_score": 1.0, "item": item})
        return items

    def _marketing_status(self, current: str | None, wanted: Any, has_email: bool) -> str:
        if not has_email:
            return "no_consent"  # Pipedrive's answer for a person without a valid email
        if current is None:
            return str(wanted) if wanted in MARKETING_STATUSES else "no_consent"
        if wanted in MARKETING_TRANSITIONS.get(current, frozenset()):
            return str(wanted)
        return current

    def create_person(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PipedriveRefusal(400, "Validation failed: name: Required")
        person_id = self.store.next_id("person")
        emails = list(body.get("emails") or [])
        at = now_iso()
        person = {
            "id": person_id,
            "name": name,
            "emails": emails,
            "owner_id": body.get("owner_id"),
            "marketing_status": self._marketing_status(
                None, body.get("marketing_status"), bool(emails)
            ),
            "custom_fields": dict(body.get("custom_fields") or {}),
            "add_time": at,
            "update_time": at,
            "_indexed_at": time.time(),
        }
        self.store.put("person", person_id, person)
        return public(person)

    def update_person(self, person_id: int, body: dict[str, Any]) -> dict[str, Any]:
        person = self.record("person", person_id)
        for key in ("name", "emails", "owner_id"):
            if key in body:
                person[key] = body[key]
        if "marketing_status" in body:
            person["marketing_status"] = self._marketing_status(
                person.get("marketing_status"), body["marketing_status"], bool(person["emails"])
            )
        person["custom_fields"] = {**person["custom_fields"], **(body.get("custom_fields") or {})}
        person["update_time"] = now_iso()
        self.store.put("person", person_id, person)
        return public(person)

    def delete_person(self, person_id: int) -> dict[str, Any]:
        """Delete a person (404 when there is none, as for a second delete); deals and
        activities that named them are unlinked, as Pipedrive keeps them."""
        found = self.store.get("person", person_id)
        self.person_deletes.append({"id": person_id, "deleted": found is not None, "at": now_iso()})
        if found is None:
            raise PipedriveRefusal(404, "Person not found")
        self.store.delete("person", person_id)
        for kind in ("deal", "activity"):
            for doc in self.store.all(kind):
                named = doc.get("person_id") == person_id
                participants = [p for p in doc.get("participants") or [] if isinstance(p, dict)]
                kept = [p for p in participants if p.get("person_id") != person_id]
                if named or len(kept) != len(participants):
                    doc["person_id"] = None if named else doc.get("person_id")
                    if "participants" in doc:
                        doc["participants"] = kept
                    self.store.put(kind, doc["id"], doc)
        return {"id": person_id}

    def search_persons(self, term: str, exact: bool) -> list[dict[str, Any]]:
        items = []
        for person in self.store.all("person"):
            emails = [str(e.get("value", "")) for e in person["emails"] if isinstance(e, dict)]
            if self._searchable(person) and any(_matches(e, term, exact) for e in emails):
                item = {"id": person["id"], "type": "person", "name": person["name"]}
                items.append({"result_score": 1.0, "item": {**item, "emails": emails}})
        return items

    def create_activity(self, body: dict[str, Any]) -> dict[str, Any]:
        subject = body.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            raise PipedriveRefusal(400, "Validation failed: subject: Required")
        participants = [p for p in body.get("participants") or [] if isinstance(p, dict)]
        primary = next((p.get("person_id") for p in participants if p.get("primary")), None)
        activity_id = self.store.next_id("activity")
        at = now_iso()
        activity = {
            "id": activity_id,
            "subject": subject,
            "type": body.get("type") or "task",
            "deal_id": body.get("deal_id"),
            "person_id": primary,
            "owner_id": body.get("owner_id"),
            "participants": participants,
            "due_date": body.get("due_date"),
            "due_time": body.get("due_time"),
            "note": body.get("note"),
            "done": bool(body.get("done", False)),
            "add_time": at,
            "update_time": at,
        }
        self.store.put("activity", activity_id, activity)
        return public(activity)

    def list_activities(self, deal_id: int | None, person_id: int | None) -> list[dict[str, Any]]:
        return [
            public(a)
            for a in self.store.all("activity")
            if (deal_id is None or a["deal_id"] == deal_id)
            and (person_id is None or a["person_id"] == person_id)
        ]

    # -- limits and inspection -----------------------------------------------------------------

    def authorised(self, request: Request) -> bool:
        token = request.headers.get("x-api-token") or request.query_params.get("api_token")
        if token is not None:
            return self.api_token is not None and token == self.api_token
        bearer = bearer_token(request)
        return bearer is not None and self.access_token is not None and bearer == self.access_token

    def rate_headers(self) -> dict[str, str]:
        headers = {"x-ratelimit-reset": str(math.ceil(self.burst.reset_in()))}
        if self.burst.limit is not None:
            headers["x-ratelimit-limit"] = str(self.burst.limit)
            headers["x-ratelimit-remaining"] = str(self.burst.remaining())
        if self.budget.remaining is not None:
            headers["x-daily-requests-left"] = str(self.budget.remaining)
        return headers

    def state(self) -> dict[str, Any]:
        return {
            "deals": list(self.deals.values()),
            "persons": list(self.persons.values()),
            "activities": list(self.activities.values()),
            "requests": self.traffic.stats(),
            "unauthorized_total": self.unauthorized_total,
            "limits": {
                "burst": self.burst.stats(),
                "search_burst": self.search_burst.stats(),
                "daily_tokens": self.budget.stats(),
            },
            "max_requests_in_window": self.burst.max_seen_in_window,
            "deletes": list(self.person_deletes),
        }

    def reset(self) -> None:
        self.store.reset()
        self.person_deletes = []
        self.traffic = Traffic()
        self.burst = SlidingWindow(self.limits.burst_per_2s, BURST_WINDOW_SECONDS)
        self.search_burst = SlidingWindow(self.limits.search_burst_per_2s, BURST_WINDOW_SECONDS)
        self.budget = DailyBudget(self.limits.daily_token_budget)
