"""The tables of a region's database that govern access and privacy: API tokens, console
sessions, publishable capture keys, signer sessions, erasures and the data keys that seal
personal fields. They share ``schema.metadata`` (and so its migrations and its classification)
with the other tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from inkbridge.store.schema_base import TS, metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("expires_at", TS),  # none: never expires
    Column("last_used_at", TS),  # refreshed at most once a minute
    Column("rotated_to", String(40)),  # the successor minted by `tokens rotate`
)


# The console's signed-in people: only the opaque session id's SHA-256 is stored; ``actor`` is
# who audit entries name, ``token_id`` the API token signed in with (none for a future IdP).
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("actor", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("token_id", String(40)),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False, index=True),
)


# Publishable keys of the public capture endpoints (the snippet, POST /v1/touchpoints): they
# carry the capture scope only and are checked against an allow-list of origins.
publishable_keys = Table(
    "publishable_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("origins", JSON, nullable=False),  # e.g. ["https://www.example.com"]
    Column("region", String(40)),  # the region its captures belong to (none: home)
    Column("rate_per_minute", Integer),  # none: the configured default
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)


# One row per erased lead (GDPR Art. 17): what was asked, when and by whom, and what it set in
# motion. Ids and counts only: the person's data is what the erasure destroyed.
erasures = Table(
    "erasures",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("region", String(40), nullable=False),
    Column("lead_id", String(40), ForeignKey("leads.id"), nullable=False, unique=True),
    Column("actor", String(100), nullable=False),
    Column("requested_at", TS, nullable=False),
    Column("destinations", JSON, nullable=False),  # the names a lead.erased change went to
    Column("cancelled_changes", Integer, nullable=False),  # outbox rows withdrawn
    Column("correlation_id", String(40)),
)


# One-time, short-lived signing links for a signer the integrator authenticated. Only the
# token's SHA-256 is stored; the subject is stored hashed, IP and user agent minimised.
signer_sessions = Table(
    "signer_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("envelope_id", String(40), ForeignKey("envelopes.id"), nullable=False, index=True),
    Column("recipient_id", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("subject_hash", String(64), nullable=False),
    Column("auth_method", String(40), nullable=False),
    Column("authenticated_at", TS, nullable=False),
    Column("return_url", Text),
    Column("issued_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("redeemed_at", TS),
    Column("revoked_at", TS),
    Column("redeemed_ip", Text),  # sealed, as the user agent
    Column("redeemed_user_agent", Text),
    Column("correlation_id", String(40)),
)


# One wrapped data key per subject (store.data_keys); shredding sets wrapped_key to NULL.
data_keys = Table(
    "data_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("region", String(40), nullable=False),
    Column("subject_type", String(40), nullable=False),
    Column("subject_id", String(200), nullable=False),
    Column("wrapped_key", LargeBinary),
    Column("kek_id", String(40), index=True),
    Column("created_at", TS, nullable=False),
    Column("shredded_at", TS),
    UniqueConstraint("subject_type", "subject_id", name="uq_data_keys_subject"),
)
