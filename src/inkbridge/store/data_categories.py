"""The vocabulary of the column classification: fideslang data categories, who may read a
column through the API, and the records that describe a column (``Field``, ``Table``,
``ColumnClass``). ``classification`` and ``classification_governance`` write the tables in it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
