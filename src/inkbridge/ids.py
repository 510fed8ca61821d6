"""Identifiers: short, sortable-by-time, prefixed by kind (``env_…``, ``lead_…``, ``cor_…``)."""

from __future__ import annotations

import hashlib
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 16 random chars (a ULID-like id)."""
    millis = int(time.time() * 1000)
    return f"{prefix}_{_encode(millis, 10)}{_encode(secrets.randbits(80), 16)}"


def hash_identifier(value: str) -> str:
    """A stable pseudonym for logs: never log an email, log this instead."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:16]
