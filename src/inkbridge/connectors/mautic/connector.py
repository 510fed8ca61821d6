"""The Mautic destination: contacts found by email and written in batches, consent and
suppression as email do-not-contact, journeys as segment or campaign memberships.

New contacts go to ``POST /api/contacts/batch/new``, known ones to ``PATCH
/api/contacts/batch/edit``: never ``PUT``, which blanks every field not sent. Contacts are found
by exact email (``where`` filter, not the ``search`` string, whose ``email:`` command matches
with LIKE and so treats ``_`` in an address as a wildcard) and their ids cached in memory.
First-touch fields are written only where the contact has none, read from that lookup.

Field aliases default to ``inkbridge_<canonical name>`` (plus Mautic's own email, firstname,
lastname, company), overridable in ``[destinations.NAME.fields]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors import kinds
from inkbridge.connectors.base import BatchResult, Change, checked_batch
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.fields import canonical_fields, is_blank, map_split
from inkbridge.connectors.marketing import (
    SUPPORTED,
    PendingWrite,
    apply_in_rounds,
    ids,
    journey_ids,
    journey_refusal,
    marketing_email_status,
)
from inkbridge.connectors.mautic.api import MauticApi, MauticLogin
from inkbridge.connectors.mautic.erasure import MauticErasure
from inkbridge.connectors.outbound import as_mapping
from inkbridge.errors import ConfigError, PermanentError
from inkbridge.vendor_http.credentials import CredentialCheck
from inkbridge.vendor_http.responses import is_retryable_status

VENDOR_MAX_BATCH = 200  # Mautic's default api_batch_max_limit
STANDARD_ALIASES = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
}
# Not contact fields in Mautic: consent is do-not-contact, the owner a Mautic user id.
UNMAPPED = frozenset({"owner", "marketing_allowed"})
MANUAL_DNC = 3  # Mautic's DoNotContact::MANUAL
DNC_COMMENT_PREFIX = "inkbridge:"


@dataclass(frozen=True)
class JourneyTarget:
    """Where a journey lands: a segment, a campaign, or both."""

    segment_id: int | None = None
    campaign_id: int | None = None


@dataclass
class _Pending(PendingWrite):
    dnc: str | None = None  # "add" or "remove"
    dnc_comment: str = ""
    segment_ids: tuple[int, ...] = ()
    contact_id: int | None = None


def default_aliases(names: Sequence[str]) -> dict[str, str]:
    """Mautic aliases for canonical fields: its own for contact basics, inkbridge_* else."""
    return {
        name: STANDARD_ALIASES.get(name, f"inkbridge_{name}")
        for name in names
        if name not in UNMAPPED and not name.startswith("consent_")
    }


def _indexed(value: Any) -> dict[int, Any]:
    """A batch answer's list, or the object Mautic sends instead when an item failed."""
    if isinstance(value, list):
        return dict(enumerate(value))
    if isinstance(value, Mapping):
        return {int(k): v for k, v in value.items() if str(k).isdigit()}
    return {}


class MauticConnector:
    """``Connector`` for Mautic (up to 200 changes per batch)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        fields: Mapping[str, str] | None = None,
        journeys: Mapping[str, JourneyTarget] | None = None,
        suppress_segment_id: int | None = None,
        max_batch: int = VENDOR_MAX_BATCH,
        **login: Unpack[MauticLogin],
    ) -> None:
        self.name = name
        self.max_batch = checked_batch(name, max_batch, VENDOR_MAX_BATCH)
        self._api = MauticApi(name, base_url, client, **login)
        self._fields = dict(fields or {})
        self._journeys = dict(journeys or {})
        self._suppress_segment_id = suppress_segment_id
        self._contact_ids: dict[str, int] = {}  # lower-cased email -> contact id

    def _prepare(self, change: Change) -> _Pending:
        record = change.record
        fields = canonical_fields(record)
        email = fields.get("email", "")
        defaults = default_aliases(list(fields))
        pending = _Pending(
            change, email.strip().lower(), *map_split(fields, defaults, self._fields)
        )
        if change.kind not in SUPPORTED:
            pending.fail(f"{self.name} does not take {change.kind} changes")
        elif not email:
            pending.fail("change has no lead email to find the Mautic contact by")
        elif change.kind == kinds.JOURNEY_ENTER:
            target = self._journeys.get(record.journey)
            refusal = journey_refusal(record, target, self.name)
            if refusal is not None:
                pending.fail(refusal)
            elif target is not None:
                pending.segment_ids = ids(target.segment_id)
                pending.campaign_ids = ids(target.campaign_id)
        elif change.kind == kinds.CONTACT_CONSENT:
            status = marketing_email_status(record)
            if status == "granted":
                pending.dnc = "remove"
            elif status is not None:
                pending.dnc, pending.dnc_comment = "add", f"{DNC_COMMENT_PREFIX} consent {status}"
        elif change.kind == kinds.MARKETING_SUPPRESS:
            pending.dnc, pending.dnc_comment = "add", f"{DNC_COMMENT_PREFIX} suppressed"
            if self._suppress_segment_id is not None:
                pending.segment_ids = (self._suppress_segment_id,)
        return pending

    async def check_credentials(self) -> CredentialCheck:
        """One contact listed (OAuth: after the token exchange), the API's cheapest read."""
        return await self._api.check_get("/api/contacts", params={"limit": "1"})

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        """Write the batch in rounds (one change per contact per round): find contacts, create
        or PATCH them, then set do-not-contact and memberships (see ``apply_in_rounds``)."""
        self._api.requests = 0
        prepared = [self._prepare(change) for change in changes]
        return await apply_in_rounds(
            changes, prepared, self._write_round, self._follow_up, lambda: self._api.requests
        )

    async def _write_round(self, batch: Sequence[_Pending]) -> None:
        contacts = await self._find(batch)
        self._plan(batch, contacts)
        await self._write(batch)

    async def _find(self, batch: Sequence[_Pending]) -> dict[str, Mapping[str, Any]]:
        """Look up the contacts whose id is unknown, or whose fields or DNC entries are needed."""
        wanted = {
            item.key
            for item in batch
            if item.key not in self._contact_ids or item.first_touch or item.dnc == "remove"
        }
        found: dict[str, Mapping[str, Any]] = {}
        for email in sorted(wanted):
            params = httpx.QueryParams(
                [
                    ("where[0][col]", "email"),
                    ("where[0][expr]", "eq"),
                    ("where[0][val]", email),
                    ("orderBy", "id"),
                    ("orderByDir", "asc"),
                    ("limit", "5"),
                ]
            )
            answer = as_mapping(await self._api.call("GET", "/api/contacts", params=params))
            # Keyed by contact id; an older Mautic sends an empty list when nothing matched.
            raw = answer.get("contacts")
            listed = [as_mapping(c) for c in (raw.values() if isinstance(raw, Mapping) else [])]
            ids = sorted({int(c["id"]) for c in listed if c.get("id") is not None})
            if ids:
                # Duplicates by email can exist in Mautic: always use the oldest contact.
                found[email] = next(c for c in listed if int(c["id"]) == ids[0])
                self._contact_ids[email] = ids[0]
            else:
                self._contact_ids.pop(email, None)
        return found

    def _plan(self, batch: Sequence[_Pending], contacts: Mapping[str, Mapping[str, Any]]) -> None:
        for item in batch:
            item.contact_id = self._contact_ids.get(item.key)
            contact = contacts.get(item.key)
            current = as_mapping(as_mapping(as_mapping(contact).get("fields")).get("all"))
            item.fields.update(
                {k: v for k, v in item.first_touch.items() if is_blank(current.get(k))}
            )
            if item.dnc == "remove" and not self._ours_to_remove(contact):
                item.dnc = None

    @staticmethod
    def _ours_to_remove(contact: Mapping[str, Any] | None) -> bool:
        """Whether the contact has an email DNC entry inkbridge set. An unsubscribe or bounce
        recorded by Mautic, or a DNC a Mautic user set by hand, outranks a consent grant."""
        entries = as_mapping(contact).get("doNotContact")
        for entry in entries if isinstance(entries, list) else []:
            entry = as_mapping(entry)
            if entry.get("channel") == "email":
                manual = int(entry.get("reason") or 0) == MANUAL_DNC
                return manual and str(entry.get("comments") or "").startswith(DNC_COMMENT_PREFIX)
        return False

    async def _write(self, batch: Sequence[_Pending]) -> None:
        known = [item for item in batch if item.contact_id is not None]
        new = [item for item in batch if item.contact_id is None]
        if known:
            body = [{"id": item.contact_id, **item.fields} for item in known]
            answer = await self._api.call("PATCH", "/api/contacts/batch/edit", body=body)
            self._read_batch(known, as_mapping(answer))
        if new:
            answer = await self._api.call(
                "POST", "/api/contacts/batch/new", body=[i.fields for i in new]
            )
            self._read_batch(new, as_mapping(answer))

    def _read_batch(self, items: Sequence[_Pending], answer: Mapping[str, Any]) -> None:
        contacts = _indexed(answer.get("contacts"))
        codes = _indexed(answer.get("statusCodes"))
        for index, item in enumerate(items):
            code = int(codes.get(index) or 0)
            contact = as_mapping(contacts.get(index))
            if code in {200, 201} and contact.get("id") is not None:
                item.contact_id = int(contact["id"])
                self._contact_ids[item.key] = item.contact_id
            elif code == 404:
                # Deleted in Mautic since it was cached: the retry looks it up again.
                self._contact_ids.pop(item.key, None)
                item.fail(f"{self.name} no longer has the contact (404)", retryable=True)
            else:
                retryable = is_retryable_status(code)
                item.fail(f"{self.name} refused the contact ({code or 'no status'})", retryable)

    async def _follow_up(self, batch: Sequence[_Pending]) -> None:
        """Do-not-contact and memberships, per contact. A permanent failure (a segment that
        no longer exists) fails that change only; a retryable one stops the batch."""
        for item in batch:
            if item.failed is not None or item.contact_id is None:
                continue
            calls: list[tuple[str, Any]] = []
            if item.dnc == "add":
                body = {"reason": MANUAL_DNC, "comments": item.dnc_comment}
                calls.append((f"/api/contacts/{item.contact_id}/dnc/email/add", body))
            elif item.dnc == "remove":
                calls.append((f"/api/contacts/{item.contact_id}/dnc/email/remove", None))
            calls += [
                (f"/api/segments/{sid}/contact/{item.contact_id}/add", None)
                for sid in item.segment_ids
            ]
            calls += [
                (f"/api/campaigns/{cid}/contact/{item.contact_id}/add", None)
                for cid in item.campaign_ids
            ]
            for path, body in calls:
                try:
                    if await self._api.call("POST", path, body=body, missing_ok=True) is None:
                        item.fail(f"{self.name} answered 404 for {path.split('/')[2]}")
                        break
                except PermanentError as exc:
                    item.fail(exc.reason)
                    break


def _journeys(name: str, raw: Any) -> dict[str, JourneyTarget]:
    return {k: JourneyTarget(*ids) for k, ids in journey_ids(name, raw, "segment_id").items()}


def from_settings(
    name: str, dest: DestinationSettings, client: httpx.AsyncClient
) -> ErasingConnector:
    """Reads ``url`` (required), ``options.client_id`` + ``credentials.client_secret`` (OAuth2
    client credentials) or ``options.username`` + ``credentials.password`` (basic auth),
    ``options.journeys``, ``options.suppress_segment_id``, ``fields``, ``batch_size`` (at most
    200) and ``timeout_seconds``."""
    if not dest.url:
        raise ConfigError(f"destination {name!r}: url (the Mautic base URL) is required")
    options, credentials = dest.options, dest.credentials

    def secret(key: str) -> str | None:
        reference = credentials.get(key)
        return resolve_secret(reference).get_secret_value() if reference else None

    suppress = options.get("suppress_segment_id")
    if suppress is not None and not isinstance(suppress, int):
        raise ConfigError(f"destination {name!r}: options.suppress_segment_id must be an integer")
    # The connector and the eraser each hold their own API (and count their own requests).
    login: MauticLogin = {
        "client_id": options.get("client_id"),
        "client_secret": secret("client_secret"),
        "username": options.get("username"),
        "password": secret("password"),
        "timeout": dest.timeout_seconds,
    }
    connector = MauticConnector(
        name,
        dest.url,
        client,
        **login,
        fields=dest.fields,
        journeys=_journeys(name, options.get("journeys") or {}),
        suppress_segment_id=suppress,
        max_batch=max(1, min(dest.batch_size, VENDOR_MAX_BATCH)),
    )
    api = MauticApi(name, dest.url, client, **login)
    return ErasingConnector(connector, MauticErasure(api))
