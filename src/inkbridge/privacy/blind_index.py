"""The blind index of emails: a keyed HMAC-SHA-256 of the normalised address, so a lead can be
found by email without the address being stored readable, and the index cannot be reversed by
hashing a list of guessed addresses without the region's index key."""

from __future__ import annotations

import hashlib
import hmac


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_index(index_key: bytes, email: str) -> str:
    """64 hex digits naming ``email`` under this region's index key."""
    return hmac.new(
        index_key, b"email|" + normalise_email(email).encode("utf-8"), hashlib.sha256
    ).hexdigest()
