"""Sealing and opening personal fields inside a transaction: the region's keyring rides on the
connection (``RegionDatabase`` puts it in ``conn.info``), so a repository seals a value with
``seal_text(conn, subject, "leads.email", value)`` without every caller passing keys around.

Opening is lenient where it must be: a plain value (a row written before encryption) is
returned as it is, and a value whose subject was shredded (erased) opens as None.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from inkbridge.privacy import field_cipher
from inkbridge.privacy.blind_index import email_index
from inkbridge.privacy.keyring import Keyring, Subject
from inkbridge.store import data_keys

KEYRING = "inkbridge.keyring"
# The URL fields of a touch (in touchpoints and every copy of a first touch): they can carry an
# email or a token in their query strings.
URL_FIELDS = ("referrer", "landing_page")


def keyring_of(conn: Connection) -> Keyring:
    keyring = conn.info.get(KEYRING)
    if not isinstance(keyring, Keyring):
        raise RuntimeError("this connection was not opened by a RegionDatabase (no keyring)")
    return keyring


def lead(lead_id: str) -> Subject:
    return ("lead", lead_id)


def envelope_subject(envelope_id: str, lead_id: str | None) -> Subject:
    """An envelope's personal data belongs to its lead, or to the envelope while it has none."""
    return lead(lead_id) if lead_id else ("envelope", envelope_id)


def visitor(anonymous_id: str) -> Subject:
    return ("visitor", anonymous_id)


def seal_text(conn: Connection, subject: Subject, column: str, value: str | None) -> str | None:
    """``value`` sealed under the subject's key; None stays None, and so does anything written
    for a shredded subject (an erased person's data is not stored again)."""
    if not value:
        return value  # None or "": nothing personal, and reports tell "" from a URL
    keyring = keyring_of(conn)
    key = data_keys.key_for_subject(conn, keyring, subject)
    if key is None:
        return None
    return field_cipher.seal_text(key.cipher, key.id, column, value)


def open_text(conn: Connection, column: str, stored: str | None) -> str | None:
    if stored is None or not field_cipher.is_sealed(stored):
        return stored
    keyring = keyring_of(conn)
    key = data_keys.key_by_id(conn, keyring, field_cipher.key_id_of(stored))
    if key is None:
        return None
    return field_cipher.open_text(key.cipher, column, stored)


def seal_json(conn: Connection, subject: Subject, column: str, value: Any) -> Any:
    """A JSON value sealed as one JSON string; an empty object stays as it is (nothing in it),
    and a shredded subject's value is stored as an empty object."""
    if value in ({}, [], None):
        return value
    sealed = seal_text(conn, subject, column, json.dumps(value, separators=(",", ":")))
    return sealed if sealed is not None else {}


def open_json(conn: Connection, column: str, stored: Any) -> Any:
    """The JSON value a column holds (plain in rows written before encryption); a shredded
    subject's value opens as None."""
    if not isinstance(stored, str) or not field_cipher.is_sealed(stored):
        return stored
    opened = open_text(conn, column, stored)
    return json.loads(opened) if opened is not None else None


def seal_urls(
    conn: Connection, subject: Subject, column: str, touch: dict[str, Any]
) -> dict[str, Any]:
    """A touch (or first-touch record) with its URL fields sealed; its UTM fields, which
    reports filter on, stay readable."""
    if not any(touch.get(name) for name in URL_FIELDS):
        return touch
    return {
        **touch,
        **{
            name: seal_text(conn, subject, f"{column}.{name}", touch.get(name))
            for name in URL_FIELDS
            if name in touch
        },
    }


def open_urls(conn: Connection, column: str, touch: dict[str, Any] | None) -> dict[str, Any]:
    if not touch:
        return dict(touch or {})
    return {
        **touch,
        **{
            name: open_text(conn, f"{column}.{name}", touch.get(name))
            for name in URL_FIELDS
            if name in touch
        },
    }


def email_hash(conn: Connection, email: str) -> str:
    """The region's blind index of ``email``: what ``leads.email_hash`` holds (the index key
    is created with the region's first lead)."""
    key = data_keys.index_key(conn, keyring_of(conn), create=True)
    assert key is not None
    return email_index(key, email)


def email_lookup_hash(conn: Connection, email: str) -> str | None:
    """The blind index to look ``email`` up by; None where no lead was ever stored."""
    key = data_keys.index_key(conn, keyring_of(conn), create=False)
    return email_index(key, email) if key is not None else None
