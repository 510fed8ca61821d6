"""Sealing one field value with AES-256-GCM, and opening it again.

A sealed text is ``ib1.<key id>.<base64url(nonce || ciphertext)>``; a sealed byte string is the
same with the raw bytes after the second dot. The associated data names the ``table.column`` a
value was sealed for, so a value copied into another column does not open there; the key id
names the data key (the ``data_keys`` row, or ``r`` for a receipt's own inline key).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inkbridge.errors import InkbridgeError

PREFIX = "ib1."
BYTES_PREFIX = PREFIX.encode()
NONCE_BYTES = 12
KEY_BYTES = 32


class SealedValueUnreadable(InkbridgeError):
    """A sealed value did not open: altered, moved to another column, or under another key.
    Carries where, never the value."""

    message = "the sealed value of {column} cannot be opened: {reason}"

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(column, reason)
        self.column = column
        self.reason = reason


def new_key() -> bytes:
    """A fresh random AES-256 key."""
    return AESGCM.generate_key(bit_length=256)


def _aad(column: str) -> bytes:
    return b"inkbridge-field|" + column.encode()


def is_sealed(value: object) -> bool:
    """True for a sealed text or byte string (old rows may still hold plain values)."""
    if isinstance(value, str):
        return value.startswith(PREFIX)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value[: len(BYTES_PREFIX)]) == BYTES_PREFIX
    return False


def key_id_of(sealed: str | bytes) -> str:
    """The data key id a sealed value names."""
    if isinstance(sealed, str):
        parts = sealed.split(".", 2)
        if len(parts) != 3 or not parts[1]:
            raise SealedValueUnreadable("(unknown)", "not a sealed value")
        return parts[1]
    end = sealed.find(b".", len(BYTES_PREFIX))
    if end < 0:
        raise SealedValueUnreadable("(unknown)", "not a sealed value")
    return sealed[len(BYTES_PREFIX) : end].decode("ascii")


def seal_bytes(cipher: AESGCM, key_id: str, column: str, plain: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return b"%s%s.%s%s" % (
        BYTES_PREFIX,
        key_id.encode("ascii"),
        nonce,
        cipher.encrypt(nonce, plain, _aad(column)),
    )


def open_bytes(cipher: AESGCM, column: str, sealed: bytes) -> bytes:
    start = sealed.find(b".", len(BYTES_PREFIX)) + 1
    if start <= 0 or len(sealed) - start < NONCE_BYTES + 16:
        raise SealedValueUnreadable(column, "truncated")
    nonce, body = sealed[start : start + NONCE_BYTES], sealed[start + NONCE_BYTES :]
    try:
        return cipher.decrypt(nonce, body, _aad(column))
    except InvalidTag:
        raise SealedValueUnreadable(column, "altered, moved or under another key") from None


def seal_text(cipher: AESGCM, key_id: str, column: str, plain: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    body = cipher.encrypt(nonce, plain.encode("utf-8"), _aad(column))
    encoded = base64.urlsafe_b64encode(nonce + body).rstrip(b"=").decode("ascii")
    return f"{PREFIX}{key_id}.{encoded}"


def open_text(cipher: AESGCM, column: str, sealed: str) -> str:
    encoded = sealed.split(".", 2)[-1]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise SealedValueUnreadable(column, "not base64url") from None
    if len(raw) < NONCE_BYTES + 16:
        raise SealedValueUnreadable(column, "truncated")
    try:
        plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(column))
    except InvalidTag:
        raise SealedValueUnreadable(column, "altered, moved or under another key") from None
    return plain.decode("utf-8")
