"""The Mautic emulator's state: contacts with their do-not-contact entries, segment and campaign
memberships in a ``DocumentStore``, access tokens, and the rules Mautic applies to them.
``emulators.mautic`` serves it over HTTP.

Kept on purpose: ``POST /contacts/batch/new`` merges into an existing contact with the same
email (Mautic's unique identifier); ``PUT`` edits replace every field with what was sent, which
blanks the rest, while ``PATCH`` edits touch only the fields sent; unknown field aliases are
ignored without an error (``ignored_fields`` counts them).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inkbridge_emulators._marketing_common import (
    DocumentStore,
    SlidingWindow,
    Traffic,
    now_iso,
)
from inkbridge_emulators.faults import FaultGate

DEFAULT_BATCH_LIMIT = 200
CORE_FIELDS = frozenset({"email", "firstname", "lastname", "company", "title", "phone", "points"})
DNC_REASONS = {1: "unsubscribed", 2: "bounced", 3: "manual"}
MANUAL = 3
DEFAULT_CLIENT_ID = "mautic-emulator-client"
DEFAULT_CLIENT_SECRET = "mautic-emulator-secret"  # noqa: S105 - a test fixture, not a secret
DEFAULT_USERNAME = "inkbridge"
DEFAULT_PASSWORD = "mautic-emulator-password"  # noqa: S105 - a test fixture, not a secret


class MauticRefusal(Exception):
    """An error Mautic answers as ``{"errors": [{"message", "code", "type"}]}``."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "code": self.status, "type": self.kind}]}


def _valid_email(value: Any) -> bool:
    return isinstance(value, str) and "@" in value and "." in value.rpartition("@")[2]


@dataclass
class BatchOutcome:
    """Mautic's batch answer: entities, status codes and errors, each keyed by input index."""

    contacts: dict[int, dict[str, Any]]
    status_codes: dict[int, int]
    errors: dict[int, dict[str, Any]]

    def body(self) -> dict[str, Any]:
        # Keyed by index: with an error in the middle the lists have holes, so Mautic's JSON
        # turns them into objects ({"0": ..., "2": ...}); without errors they are plain lists.
        def shaped(values: dict[int, Any]) -> Any:
            if sorted(values) == list(range(len(values))):
                return [values[i] for i in range(len(values))]
            return {str(k): v for k, v in sorted(values.items())}

        body: dict[str, Any] = {
            "contacts": shaped(self.contacts),
            "statusCodes": shaped(self.status_codes),
        }
        if self.errors:
            body["errors"] = {str(k): v for k, v in sorted(self.errors.items())}
        return body


@dataclass
class MauticEmulator:
    """Mautic's contacts, DNC, memberships, tokens and limits (``app.state.emulator``).

    ``custom_fields`` None accepts any alias; a set ignores the others, as Mautic does.
    ``segments``/``campaigns`` None accept any id; a set answers 404 for others.
    """

    store: DocumentStore
    faults: FaultGate  # rendered in the vendor's error format
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    custom_fields: frozenset[str] | None = None
    segments: frozenset[int] | None = None
    campaigns: frozenset[int] | None = None
    batch_limit: int = DEFAULT_BATCH_LIMIT
    rate_limit_per_minute: int | None = None
    token_ttl: int = 3600

    def __post_init__(self) -> None:
        self.traffic = Traffic()
        self.window = SlidingWindow(self.rate_limit_per_minute, 60.0)
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self.ignored_fields = 0
        # Every contact delete that got past faults, auth and limits, for tests to count.
        self.contact_deletes: list[dict[str, Any]] = []

    # -- auth ----------------------------------------------------------------------------------

    def issue_token(self, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("grant_type") != "client_credentials":
            raise MauticRefusal(400, "Invalid grant_type parameter or parameter missing")
        if params.get("client_id") != self.client_id or (
            params.get("client_secret") != self.client_secret
        ):
            raise MauticRefusal(400, "The client credentials are invalid", "invalid_client")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_ttl
        self.tokens_issued += 1
        return {
            "access_token": token,
            "expires_in": self.token_ttl,
            "token_type": "bearer",
            "scope": None,
        }

    def check_bearer(self, token: str) -> None:
        expires = self.tokens.get(token)
        if expires is None:
            raise MauticRefusal(401, "API authorization denied.", "access_denied")
        if expires <= time.time():
            raise MauticRefusal(401, "The access token provided has expired.", "invalid_grant")

    def check_basic(self, username: str, password: str) -> None:
        if (username, password) != (self.username, self.password):
            raise MauticRefusal(401, "API authorization denied.", "access_denied")

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    # -- contacts ------------------------------------------------------------------------------

    @property
    def contacts(self) -> dict[int, dict[str, Any]]:
        """Contacts as stored: ``{id, fields: {alias: value}, dnc: [...]}``."""
        return {int(c["id"]): c for c in self.store.all("contact")}

    def contact(self, contact_id: int) -> dict[str, Any]:
        found = self.store.get("contact", contact_id)
        if found is None:
            raise MauticRefusal(404, "Item was not found.")
        return found

    def by_email(self, email: str) -> list[dict[str, Any]]:
        wanted = email.strip().lower()
        return [
            c
            for c in self.store.all("contact")
            if str(c["fields"].get("email") or "").lower() == wanted
        ]

    def show(self, contact: Mapping[str, Any]) -> dict[str, Any]:
        """A contact in the API's shape."""
        fields = dict(contact["fields"])
        return {
            "id": contact["id"],
            "isPublished": True,
            "dateAdded": contact["dateAdded"],
            "dateModified": contact["dateModified"],
            "points": 0,
            "fields": {
                "core": {
                    alias: {"alias": alias, "value": value}
                    for alias, value in fields.items()
                    if alias in CORE_FIELDS
                },
                "all": {"id": contact["id"], **fields},
            },
            "doNotContact": [dict(entry) for entry in contact["dnc"]],
            "tags": [],
            "owner": None,
        }

    def _known(self, params: Mapping[str, Any]) -> dict[str, Any]:
        known: dict[str, Any] = {}
        for alias, value in params.items():
            if alias in {"id", "overwriteWithBlank", "ipAddress", "lastActive", "owner"}:
                continue
            if self.custom_fields is None or alias in CORE_FIELDS or alias in self.custom_fields:
                known[alias] = value
            else:
                self.ignored_fields += 1
        return known

    def _save(self, contact: dict[str, Any], params: Mapping[str, Any], replace: bool) -> None:
        incoming = self._known(params)
        if replace:
            contact["fields"] = incoming
        else:
            blank_ok = bool(params.get("overwriteWithBlank"))
            for alias, value in incoming.items():
                if value not in (None, "") or blank_ok:
                    contact["fields"][alias] = value
        contact["dateModified"] = now_iso()
        self.store.put("contact", contact["id"], contact)

    def _new(self, params: Mapping[str, Any]) -> dict[str, Any]:
        contact_id = self.store.next_id("contact")
        at = now_iso()
        contact = {"id": contact_id, "fields": {}, "dnc": [], "dateAdded": at, "dateModified": at}
        self._save(contact, params, replace=False)
        return contact

    def _batch(self, items: Any) -> Sequence[Any]:
        if not isinstance(items, list) or not items:
            raise MauticRefusal(400, "Request body must be a list of contacts")
        if len(items) > self.batch_limit:
            raise MauticRefusal(
                400, f"A max of {self.batch_limit} entities are supported at a time."
            )
        return items

    def new_contacts(self, items: Any) -> BatchOutcome:
        outcome = BatchOutcome({}, {}, {})
        for key, params in enumerate(self._batch(items)):
            if not isinstance(params, dict) or not _valid_email(params.get("email")):
                error = {"code": 400, "message": "email: A valid email is required.", "type": None}
                outcome.errors[key], outcome.status_codes[key] = error, 400
                continue
            existing = self.by_email(str(params["email"]))
            if existing:
                self._save(existing[0], params, replace=False)
                contact, code = existing[0], 200
            else:
                contact, code = self._new(params), 201
            outcome.contacts[key], outcome.status_codes[key] = self.show(contact), code
        return outcome

    def edit_contacts(self, items: Any, method: str) -> BatchOutcome:
        outcome = BatchOutcome({}, {}, {})
        for key, params in enumerate(self._batch(items)):
            contact_id = params.get("id") if isinstance(params, dict) else None
            found = self.store.get("contact", contact_id) if contact_id is not None else None
            if found is None and method == "PATCH":
                error = {"code": 404, "message": "Item was not found.", "type": None}
                outcome.errors[key], outcome.status_codes[key] = error, 404
                continue
            if found is None:
                contact, code = self._new(params), 201
            else:
                self._save(found, params, replace=method == "PUT")
                contact, code = found, 200
            outcome.contacts[key], outcome.status_codes[key] = self.show(contact), code
        return outcome

    def delete_contact(self, contact_id: int) -> dict[str, Any]:
        """Delete a contact with its segment and campaign memberships; answers the contact as
        it was (404 when there is none, as for a second delete)."""
        found = self.store.get("contact", contact_id)
        self.contact_deletes.append(
            {"id": contact_id, "deleted": found is not None, "at": now_iso()}
        )
        if found is None:
            raise MauticRefusal(404, "Item was not found.")
        self.store.delete("contact", contact_id)
        for kind in ("segment", "campaign"):
            for row in self.store.all(f"{kind}_member"):
                if int(row["contact_id"]) == contact_id:
                    self.store.delete(f"{kind}_member", f"{row['group_id']}:{contact_id}")
        return self.show(found)

    def search(self, email: str) -> list[dict[str, Any]]:
        return [self.show(c) for c in self.by_email(email)]

    # -- do not contact, segments, campaigns ---------------------------------------------------

    def add_dnc(self, contact_id: int, channel: str, reason: int, comments: str) -> dict[str, Any]:
        contact = self.contact(contact_id)
        if not any(entry["channel"] == channel for entry in contact["dnc"]):
            entry = {
                "reason": reason,
                "comments": comments,
                "channel": channel,
                "channelId": None,
                "dateAdded": now_iso(),
            }
            contact["dnc"].append(entry)
            self.store.put("contact", contact_id, contact)
        return self.show(contact)

    def remove_dnc(self, contact_id: int, channel: str) -> dict[str, Any]:
        contact = self.contact(contact_id)
        contact["dnc"] = [entry for entry in contact["dnc"] if entry["channel"] != channel]
        self.store.put("contact", contact_id, contact)
        return self.show(contact)

    def add_member(self, kind: str, group_id: int, contact_id: int) -> None:
        allowed = self.segments if kind == "segment" else self.campaigns
        if allowed is not None and group_id not in allowed:
            raise MauticRefusal(404, "Item was not found.")
        self.contact(contact_id)
        member = {"group_id": group_id, "contact_id": contact_id, "at": now_iso()}
        self.store.put(f"{kind}_member", f"{group_id}:{contact_id}", member)

    def members(self, kind: str) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for row in self.store.all(f"{kind}_member"):
            groups.setdefault(int(row["group_id"]), []).append(int(row["contact_id"]))
        return groups

    # -- inspection ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        contacts = list(self.contacts.values())
        return {
            "contacts": [self.show(c) for c in contacts],
            "segments": {str(k): v for k, v in self.members("segment").items()},
            "campaigns": {str(k): v for k, v in self.members("campaign").items()},
            "dnc": [
                {"contact_id": c["id"], "channel": e["channel"], "reason": e["reason"]}
                for c in contacts
                for e in c["dnc"]
            ],
            "ignored_fields": self.ignored_fields,
            "tokens_issued": self.tokens_issued,
            "requests": self.traffic.stats(),
            "limits": {"per_minute": self.window.stats()},
            "max_requests_in_window": self.window.max_seen_in_window,
            "deletes": list(self.contact_deletes),
        }

    def reset(self) -> None:
        self.store.reset()
        self.__post_init__()
