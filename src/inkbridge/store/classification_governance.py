"""The classification of the tables that govern access and privacy (``schema_governance``
and the destination quota): tokens, keys, sessions, erasures, data keys. No personal data but
pseudonymous ids; key material readable by nobody."""

from __future__ import annotations

from collections.abc import Mapping

from inkbridge.store.data_categories import (
    AUTHENTICATION,
    DEVICE,
    IP_ADDRESS,
    NOBODY,
    READ,
    UNIQUE_ID,
    Field,
    R,
    Table,
    no_personal_data,
    personal,
)

GOVERNANCE_TABLES: Mapping[str, Table] = {
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
    "console_sessions": Table(
        R.RECORDS,
        NOBODY,
        no_personal_data("actor name scopes token_id created_at expires_at")
        | {"id_hash": Field((AUTHENTICATION,)), "csrf_token": Field((AUTHENTICATION,))},
    ),
    "publishable_keys": Table(
        R.RECORDS,
        NOBODY,
        {
            **no_personal_data("id name origins region rate_per_minute created_at revoked_at"),
            "key_hash": Field((AUTHENTICATION,)),
        },
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
    "destination_quota": Table(
        R.RECORDS, NOBODY, no_personal_data("destination tokens refilled_at paused_until")
    ),
}
