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

from sqlalchemy import MetaData

from inkbridge.domain.retention import RetentionCategory
from inkbridge.store.classification_governance import GOVERNANCE_TABLES
from inkbridge.store.data_categories import (
    AUTHENTICATION,
    BROWSING,
    COOKIE_ID,
    DEVICE,
    EMAIL,
    IP_ADDRESS,
    LEAD_PERSONAL,
    NAME,
    NOBODY,
    PHONE,
    PRIVACY,
    PRIVATE_CONTENT,
    READ,
    UNIQUE_ID,
    WORKPLACE,
    ColumnClass,
    Field,
    R,
    Table,
    no_personal_data,
    ops,
    personal,
)

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
    "anonymous_visitors": Table(
        R.TOUCHPOINTS,
        NOBODY,
        {"anonymous_id": personal(COOKIE_ID), "first_seen_at": ops()},
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
    **GOVERNANCE_TABLES,
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
