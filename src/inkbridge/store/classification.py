"""The classification of every column of every table in ``store.schema``: its data categories
(fideslang names, https://ethyca.github.io/fideslang/), whether it is encrypted at rest, its
retention category, and which token scopes can read it through the API.

The data map is built from this table and the configuration only, and a test compares it with
the schema's own metadata, so a new column without a line here (or a line for a column that no
longer exists) fails the build naming it. A column is one line: ``"name": Field(...)``; a new
table is one ``Table(...)`` entry with its default retention and readers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import MetaData

from inkbridge.domain.retention import RetentionCategory

# fideslang data categories (taxonomy v3): personal ones under ``user``, the rest ``system``.
EMAIL = "user.contact.email"
NAME = "user.name"
PHONE = "user.contact.phone_number"
IP_ADDRESS = "user.device.ip_address"
DEVICE = "user.device"  # fideslang has no user-agent leaf: the parent "Device Data"
COOKIE_ID = "user.device.cookie_id"
UNIQUE_ID = "user.unique_id"  # pseudonymous ids assigned by us or a vendor, hashes of them
BROWSING = "user.behavior.browsing_history"  # referrer, landing page, campaign parameters
WORKPLACE = "user.professional_information.workplace"
PRIVACY = "user.privacy_preferences"  # consent kinds and statuses
PRIVATE_CONTENT = "user.content.private"  # what a signer's documents and merge fields hold
OPERATIONS = "system.operations"
AUTHENTICATION = "system.authentication"

# Who can read a value through the HTTP API: ``admin`` holds every scope.
READ = frozenset({"read", "admin"})
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

R = RetentionCategory


@dataclass(frozen=True)
class Field:
    """One column as written below: what it holds, and where it differs from its table."""

    categories: tuple[str, ...]
    # At rest, once the region key encrypts it (issue 11, item 2): the map is right when it lands.
    encrypted: bool = False
    retention: RetentionCategory | None = None  # None: the table's
    readable_by: frozenset[str] | None = None  # None: the table's


def ops(
    *, retention: RetentionCategory | None = None, readable_by: frozenset[str] | None = None
) -> Field:
    """A column of no personal data (ids of our own, states, counters, times)."""
    return Field((OPERATIONS,), retention=retention, readable_by=readable_by)


def no_personal_data(names: str) -> dict[str, Field]:
    """Columns of no personal data, named in one space-separated string."""
    return {name: ops() for name in names.split()}


def personal(
    *categories: str,
    encrypted: bool = False,
    retention: RetentionCategory | None = None,
    readable_by: frozenset[str] | None = None,
) -> Field:
    return Field(categories, encrypted, retention, readable_by)


@dataclass(frozen=True)
class Table:
    """A table's defaults and its columns."""

    retention: RetentionCategory
    readable_by: frozenset[str]
    columns: Mapping[str, Field] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnClass:
    """One column, fully resolved: what the data map shows."""

    table: str
    column: str
    categories: tuple[str, ...]
    encrypted: bool
    retention: RetentionCategory
    readable_by: frozenset[str]

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def personal(self) -> bool:
        return any(c.startswith("user.") for c in self.categories)


LEAD_PERSONAL = R.UNCONVERTED_LEADS

TABLES: Mapping[str, Table] = {
    "leads": Table(
        R.RECORDS,
        READ,
        {
            "id": personal(UNIQUE_ID),
            "region": ops(),
            "email": personal(EMAIL, encrypted=True, retention=LEAD_PERSONAL),
            "email_hash": personal(UNIQUE_ID, retention=LEAD_PERSONAL),
            "first_name": personal(NAME, encrypted=True, retention=LEAD_PERSONAL),
            "last_name": personal(NAME, encrypted=True, retention=LEAD_PERSONAL),
            "company": personal(WORKPLACE, encrypted=True, retention=LEAD_PERSONAL),
            "phone": personal(PHONE, encrypted=True, retention=LEAD_PERSONAL),
            "anonymous_id": personal(COOKIE_ID, retention=LEAD_PERSONAL),
            "owner": personal(UNIQUE_ID, retention=LEAD_PERSONAL),
            "score": ops(),
            "qualified_at": ops(),
            "first_touch": personal(BROWSING, UNIQUE_ID, retention=LEAD_PERSONAL),
            "correlation_id": ops(),
            "created_at": ops(),
            "purged_at": ops(),
        },
    ),
    "touchpoints": Table(
        R.TOUCHPOINTS,
        READ,
        {
            "id": ops(),
            "region": ops(),
            "lead_id": personal(UNIQUE_ID),
            "anonymous_id": personal(COOKIE_ID),
            "occurred_at": ops(),
            "utm_source": personal(BROWSING),
            "utm_medium": personal(BROWSING),
            "utm_campaign": personal(BROWSING),
            "utm_term": personal(BROWSING),
            "utm_content": personal(BROWSING),
            "click_ids": personal(UNIQUE_ID),
            "referrer": personal(BROWSING, encrypted=True),
            "landing_page": personal(BROWSING, encrypted=True),
        },
    ),
    "consent_records": Table(
        R.EVIDENCE,
        READ,
        {
            "id": ops(),
            "region": ops(),
            "lead_id": personal(UNIQUE_ID),
            "kind": personal(PRIVACY),
            "status": personal(PRIVACY),
            "text_version_id": ops(),
            "text_sha256": ops(),
            "locale": ops(),
            "jurisdiction": ops(),
            "method": ops(),
            "source": ops(),
            "occurred_at": ops(),
            "evidence": personal(IP_ADDRESS, DEVICE, encrypted=True),
            "prev_hash": ops(),
            "hash": ops(),
        },
    ),
    "consent_texts": Table(
        R.EVIDENCE,
        READ,
        no_personal_data("id kind title locale jurisdiction text sha256 created_at"),
    ),
    "envelopes": Table(
        R.RECORDS,
        READ,
        {
            **no_personal_data(
                "id region connection provider provider_envelope_id template_key "
                "template_version correlation_id state delivery_failed conflicts "
                "milestones linked needs_reconcile last_reconciled_at sent_at "
                "first_viewed_at first_signed_at completed_at declined_at voided_at "
                "expired_at first_reminder_at lead_created_at lead_to_sent_ms "
                "sent_to_first_view_ms first_view_to_completed_ms "
                "sent_to_first_reminder_ms sent_to_completed_ms version created_at "
                "updated_at"
            ),
            "lead_id": personal(UNIQUE_ID),
            "attribution": personal(BROWSING, UNIQUE_ID),
            "metadata": personal(UNIQUE_ID, PRIVATE_CONTENT, encrypted=True),
            "utm_source": personal(BROWSING),
            "utm_medium": personal(BROWSING),
            "utm_campaign": personal(BROWSING),
        },
    ),
    "recipients": Table(
        R.RECORDS,
        READ,
        {
            "envelope_id": ops(),
            "recipient_id": ops(),
            "email": personal(EMAIL, encrypted=True),
            "name": personal(NAME, encrypted=True),
            "status": ops(),
            "updated_at": ops(),
        },
    ),
    "webhook_receipts": Table(
        R.RECORDS,
        READ,
        {
            **no_personal_data(
                "id region connection dedup_key source content_type received_at status "
                "attempts lease_until processed_at error correlation_id"
            ),
            # Redacted (no signature or secret header), yet forwarded-for and vendor ids remain.
            "headers": personal(
                IP_ADDRESS, encrypted=True, retention=R.RECEIPT_BODIES, readable_by=NOBODY
            ),
            "body": personal(
                EMAIL,
                NAME,
                PRIVATE_CONTENT,
                encrypted=True,
                retention=R.RECEIPT_BODIES,
                readable_by=NOBODY,
            ),
            # The receipt's own data key, wrapped by the region key (and that key's id): NULL
            # once shredded, and the body with it.
            "body_key": Field((AUTHENTICATION,), readable_by=NOBODY),
            "body_kek_id": ops(readable_by=NOBODY),
            "lead_id": personal(UNIQUE_ID),
        },
    ),
    "envelope_events": Table(
        R.EVIDENCE,
        READ,
        no_personal_data(
            "seq region envelope_id receipt_id event_index event_type vendor_event "
            "recipient_id occurred_at received_at outcome from_state to_state "
            "correlation_id prev_hash hash"
        ),
    ),
    "audit_log": Table(
        R.EVIDENCE,
        READ,
        {
            **no_personal_data(
                "seq region at actor action subject_id correlation_id prev_hash hash"
            ),
            # Signer-session evidence: a hashed subject, a minimised IP and user agent.
            "details": personal(UNIQUE_ID, IP_ADDRESS, DEVICE),
        },
    ),
    "chain_heads": Table(
        R.EVIDENCE,
        NOBODY,
        {"name": ops(), "last_hash": ops(), "length": ops()},
    ),
    "outbox": Table(
        R.DELIVERY_ATTEMPTS,
        READ,
        {
            **no_personal_data(
                "id region destination idempotency_key kind status attempts "
                "next_attempt_at lease_until last_error correlation_id created_at "
                "delivered_at"
            ),
            "record_key": personal(UNIQUE_ID),
            # What a destination receives: the lead, its first touch and consent, the envelope.
            "payload": personal(
                EMAIL, NAME, WORKPLACE, BROWSING, PRIVACY, encrypted=True, readable_by=NOBODY
            ),
        },
    ),
    "deliveries": Table(
        R.DELIVERY_ATTEMPTS,
        READ,
        no_personal_data(
            "id outbox_id destination batch_id attempt started_at finished_at "
            "outcome status_code error"
        ),
    ),
    "api_tokens": Table(
        R.RECORDS,
        NOBODY,
        {
            **no_personal_data(
                "id name scopes created_at revoked_at expires_at last_used_at rotated_to"
            ),
            "token_hash": Field((AUTHENTICATION,)),
        },
    ),
    "publishable_keys": Table(
        R.RECORDS,
        NOBODY,
        {
            **no_personal_data("id name origins region rate_per_minute created_at revoked_at"),
            "key_hash": Field((AUTHENTICATION,)),
        },
    ),
    "anonymous_visitors": Table(
        R.TOUCHPOINTS,
        NOBODY,
        {"anonymous_id": personal(COOKIE_ID), "first_seen_at": ops()},
    ),
    "signer_sessions": Table(
        R.RECORDS,
        READ,
        {
            **no_personal_data(
                "id envelope_id recipient_id auth_method authenticated_at return_url "
                "issued_at expires_at redeemed_at revoked_at correlation_id"
            ),
            "token_hash": Field((AUTHENTICATION,), readable_by=NOBODY),
            "subject_hash": personal(UNIQUE_ID),
            "redeemed_ip": personal(IP_ADDRESS, encrypted=True),
            "redeemed_user_agent": personal(DEVICE, encrypted=True),
        },
    ),
    # Who asked for a lead's erasure, when, and which destinations were told: evidence.
    "erasures": Table(
        R.EVIDENCE,
        READ,
        {
            **no_personal_data(
                "id region actor requested_at destinations cancelled_changes correlation_id"
            ),
            "lead_id": personal(UNIQUE_ID),
        },
    ),
    # One data key per subject (lead, envelope without a lead, visitor, outbox record) and the
    # region's blind-index key, each wrapped by the region key; shredding NULLs wrapped_key.
    "data_keys": Table(
        R.RECORDS,
        NOBODY,
        {
            **no_personal_data("id region subject_type kek_id created_at shredded_at"),
            "subject_id": personal(UNIQUE_ID),
            "wrapped_key": Field((AUTHENTICATION,)),
        },
    ),
    "journey_touches": Table(
        R.RECORDS,
        READ,
        {
            **no_personal_data(
                "envelope_id position touches created_position sent_position age_days "
                "since_first_days lead_created_at template_key"
            ),
            "lead_id": personal(UNIQUE_ID),
            "channel": personal(BROWSING),
            "source": personal(BROWSING),
            "campaign": personal(BROWSING),
            "first_campaign": personal(BROWSING),
        },
    ),
    "destination_quota": Table(
        R.RECORDS, NOBODY, no_personal_data("destination tokens refilled_at paused_until")
    ),
}


def classified(tables: Mapping[str, Table] = TABLES) -> list[ColumnClass]:
    """Every classified column, resolved against its table's defaults, sorted by name."""
    found = [
        ColumnClass(
            table=table_name,
            column=column_name,
            categories=spec.categories,
            encrypted=spec.encrypted,
            retention=spec.retention or table.retention,
            readable_by=table.readable_by if spec.readable_by is None else spec.readable_by,
        )
        for table_name, table in tables.items()
        for column_name, spec in table.columns.items()
    ]
    return sorted(found, key=lambda c: c.name)


def _schema_columns(metadata: MetaData) -> set[str]:
    return {f"{t.name}.{c.name}" for t in metadata.tables.values() for c in t.columns}


def unclassified(metadata: MetaData, tables: Mapping[str, Table] = TABLES) -> list[str]:
    """``table.column`` of each schema column with no classification."""
    known = {c.name for c in classified(tables)}
    return sorted(_schema_columns(metadata) - known)


def stale(metadata: MetaData, tables: Mapping[str, Table] = TABLES) -> list[str]:
    """``table.column`` of each classification whose column the schema no longer has."""
    return sorted({c.name for c in classified(tables)} - _schema_columns(metadata))


def columns_in(retention: RetentionCategory, columns: Iterable[ColumnClass]) -> list[str]:
    return sorted(c.name for c in columns if c.retention is retention)
