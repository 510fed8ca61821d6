"""Every column of every table is classified (data categories, encryption, retention, readers),
and the classification names no column the schema does not have."""

from __future__ import annotations

import re

from sqlalchemy import Column, Integer, MetaData, String, Table

from inkbridge.domain.retention import RetentionCategory
from inkbridge.store import classification
from inkbridge.store.schema import metadata

# fideslang's v3 taxonomy: a category is dot-separated lowercase names under user or system.
FIDESLANG = re.compile(r"^(user|system)(\.[a-z_]+)+$")


def test_every_column_of_the_schema_is_classified() -> None:
    missing = classification.unclassified(metadata)
    assert missing == [], f"classify these columns in store/classification.py: {missing}"


def test_every_classification_names_a_column_that_exists() -> None:
    gone = classification.stale(metadata)
    assert gone == [], f"these classified columns are no longer in the schema: {gone}"


def test_a_new_column_without_a_classification_is_named() -> None:
    grown = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(grown)
    grown.tables["leads"].append_column(Column("fax", String(40)))
    Table("postal_addresses", grown, Column("id", Integer, primary_key=True))
    assert classification.unclassified(grown) == ["leads.fax", "postal_addresses.id"]


def test_a_classified_column_that_was_dropped_is_named() -> None:
    shrunk = MetaData()
    for name, table in metadata.tables.items():
        if name != "anonymous_visitors":
            table.to_metadata(shrunk)
    assert classification.stale(shrunk) == [
        "anonymous_visitors.anonymous_id",
        "anonymous_visitors.first_seen_at",
    ]


def test_categories_are_fideslang_names() -> None:
    for column in classification.classified():
        assert column.categories, column.name
        for category in column.categories:
            assert FIDESLANG.match(category), f"{column.name}: {category}"


def test_personal_contact_data_is_flagged_for_encryption_and_hidden_blobs_from_every_scope() -> (
    None
):
    columns = {c.name: c for c in classification.classified()}
    for name in ("leads.email", "recipients.email", "recipients.name", "outbox.payload"):
        assert columns[name].encrypted, name
    assert columns["webhook_receipts.body"].readable_by == frozenset()
    assert columns["webhook_receipts.body"].retention is RetentionCategory.RECEIPT_BODIES
    assert columns["webhook_receipts.dedup_key"].retention is RetentionCategory.RECORDS
    assert columns["audit_log.hash"].retention is RetentionCategory.EVIDENCE
