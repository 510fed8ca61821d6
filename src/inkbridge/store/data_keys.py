"""Data key rows (``data_keys``): one random AES-256 key per subject, stored wrapped under the
region's KEK; created on first use, shredded by erasure, re-wrapped by rotation. Also the
region's blind-index key, a row of its own (subject type ``index``) so rotation keeps the index.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, bindparam, select, update

from inkbridge.privacy.field_cipher import new_key
from inkbridge.privacy.keyring import DataKey, Keyring, Subject
from inkbridge.privacy.region_keys import KeyUnavailable, RegionKeys
from inkbridge.store.driver_statements import insert_if_absent
from inkbridge.store.schema import data_keys
from inkbridge.store.transaction_memo import memo_of

INDEX_SUBJECT = "index"

# RETURNING tells our insert from a concurrent writer's (whose key is then read back).
_INSERT_COLUMNS = (
    "id",
    "region",
    "subject_type",
    "subject_id",
    "wrapped_key",
    "kek_id",
    "created_at",
)
# Built once per dialect (``insert_if_absent`` caches it).
_INSERT_IF_ABSENT = partial(
    insert_if_absent,
    data_keys,
    ("subject_type", "subject_id"),
    columns=_INSERT_COLUMNS,
    returning=("id",),
)
# The memo's mark of a subject that has no key row yet (see ``new_subject``).
_NEW = "data_keys.new"
_BY_SUBJECT = select(data_keys.c.id, data_keys.c.wrapped_key, data_keys.c.kek_id).where(
    data_keys.c.subject_type == bindparam("subject_type"),
    data_keys.c.subject_id == bindparam("subject_id"),
)


def _new_key_id() -> str:
    # Short: every sealed value carries it. No dots (the sealed format's separator).
    return "k" + secrets.token_hex(8)


def _unwrapped(keyring: Keyring, row: Any) -> DataKey | None:
    if row.wrapped_key is None:
        return None  # shredded
    raw = keyring.keys.unwrap(row.kek_id, bytes(row.wrapped_key), row.id)
    return DataKey(row.id, AESGCM(raw))


def key_for_subject(conn: Connection, keyring: Keyring, subject: Subject) -> DataKey | None:
    """The subject's data key, created on first use; None once the subject was shredded.

    A key created here is not cached in the keyring: the transaction may still roll back, and a
    cached key whose row was never committed would seal values nobody can open. The next
    transaction reads it back and caches it. Inside a transaction memo (the worker's batches)
    it is remembered until the transaction ends, or until the savepoint it was created in rolls
    back."""
    found = keyring.cached_for(subject)
    if found is not None:
        return found
    memo = memo_of(conn)
    if memo is not None and subject in memo.state.keys:
        return memo.state.keys[subject]
    is_new = memo is not None and (_NEW, *subject) in memo.state.reads
    row = None if is_new else _subject_row(conn, subject)
    created = row is None
    if row is None:
        key_id, raw = _new_key_id(), new_key()
        kek_id, wrapped = keyring.keys.wrap(raw, key_id)
        inserted = _INSERT_IF_ABSENT(dialect_name=conn.dialect.name).first(
            conn,
            {
                "id": key_id,
                "region": keyring.region,
                "subject_type": subject[0],
                "subject_id": subject[1],
                "wrapped_key": wrapped,
                "kek_id": kek_id,
                "created_at": datetime.now(UTC),
            },
        )
        if inserted is not None:
            created_key = DataKey(key_id, AESGCM(raw))
            if memo is not None:
                memo.state.keys[subject] = created_key
            return created_key
        row = _subject_row(conn, subject)  # a concurrent writer's
        assert row is not None
    key = _unwrapped(keyring, row)
    if key is not None and not created:
        keyring.remember(key, subject)
    return key


def new_subject(conn: Connection, subject: Subject) -> None:
    """Tell the transaction's memo that ``subject`` has no key row yet (a row with its id was
    just inserted in this transaction), so its first key is inserted without being looked for
    first. Only a shortcut: the insert still yields to a row that exists (it is read back
    then); a savepoint rolled back forgets the mark with the rest of the memo's reads."""
    memo = memo_of(conn)
    if memo is not None:
        memo.state.reads[(_NEW, *subject)] = True


def _subject_row(conn: Connection, subject: Subject) -> Any:
    params = {"subject_type": subject[0], "subject_id": subject[1]}
    return conn.execute(_BY_SUBJECT, params).first()


def key_by_id(conn: Connection, keyring: Keyring, key_id: str) -> DataKey | None:
    """The data key a sealed value names; None when it was shredded (or never existed)."""
    found = keyring.cached(key_id)
    if found is not None:
        return found
    row = conn.execute(
        select(data_keys.c.id, data_keys.c.wrapped_key, data_keys.c.kek_id).where(
            data_keys.c.id == key_id
        )
    ).first()
    key = _unwrapped(keyring, row) if row is not None else None
    if key is not None:
        keyring.remember(key)
    return key


def index_key(conn: Connection, keyring: Keyring, *, create: bool) -> bytes | None:
    """The region's blind-index key: created with the region's first lead (``create``), None
    for a lookup in a region that has none yet (no lead there can match)."""
    if keyring.index_key is not None:
        return keyring.index_key
    subject = (INDEX_SUBJECT, keyring.region)
    row = _subject_row(conn, subject)
    if row is None:
        if not create:
            return None
        key_for_subject(conn, keyring, subject)
        row = _subject_row(conn, subject)
        assert row is not None
        # Not cached: this transaction may roll back (see key_for_subject).
        return keyring.keys.unwrap(row.kek_id, bytes(row.wrapped_key), row.id)
    raw = keyring.keys.unwrap(row.kek_id, bytes(row.wrapped_key), row.id)
    keyring.index_key = raw
    return raw


def shred_subject(
    conn: Connection, subject_type: str, subject_id: str, keyring: Keyring | None = None
) -> bool:
    """Destroy the subject's data key: every value sealed under it becomes unreadable, in this
    database and in any backup taken afterwards. True when a live key was shredded."""
    if subject_type == INDEX_SUBJECT:
        raise ValueError("the blind-index key is not a subject's key")
    row = _subject_row(conn, (subject_type, subject_id))
    result = conn.execute(
        update(data_keys)
        .where(
            data_keys.c.subject_type == subject_type,
            data_keys.c.subject_id == subject_id,
            data_keys.c.wrapped_key.is_not(None),
        )
        .values(wrapped_key=None, kek_id=None, shredded_at=datetime.now(UTC))
    )
    if keyring is not None and row is not None:
        keyring.forget(row.id, (subject_type, subject_id))
    return bool(result.rowcount)


def unknown_kek_ids(conn: Connection, keys: RegionKeys) -> list[str]:
    """KEK ids some live data key is wrapped under that ``keys`` does not hold."""
    used = conn.execute(
        select(data_keys.c.kek_id).where(data_keys.c.kek_id.is_not(None)).distinct()
    ).scalars()
    return sorted(set(used) - keys.key_ids)


def check_keys(conn: Connection, keys: RegionKeys) -> None:
    """Refuse to run against a database whose data keys need a KEK that is not configured."""
    missing = unknown_kek_ids(conn, keys)
    if missing:
        raise KeyUnavailable(keys.region, missing[0])


def rewrap_batch(conn: Connection, keys: RegionKeys, *, index: bool, limit: int = 500) -> int:
    """Re-wrap under the current KEK up to ``limit`` data keys still under an older one (the
    subjects' keys, or with ``index`` the blind-index key); returns how many."""
    subject_type = data_keys.c.subject_type
    rows = conn.execute(
        select(data_keys.c.id, data_keys.c.wrapped_key, data_keys.c.kek_id)
        .where(
            data_keys.c.kek_id.is_not(None),
            data_keys.c.kek_id != keys.current.id,
            (subject_type == INDEX_SUBJECT) if index else (subject_type != INDEX_SUBJECT),
        )
        .limit(limit)
    ).all()
    for row in rows:
        raw = keys.unwrap(row.kek_id, bytes(row.wrapped_key), row.id)
        kek_id, wrapped = keys.wrap(raw, row.id)
        conn.execute(
            update(data_keys)
            .where(data_keys.c.id == row.id, data_keys.c.kek_id == row.kek_id)
            .values(wrapped_key=wrapped, kek_id=kek_id)
        )
    return len(rows)


def count_under(conn: Connection, kek_ids: set[str]) -> int:
    """How many live data keys are wrapped under one of ``kek_ids``."""
    return len(
        conn.execute(select(data_keys.c.id).where(data_keys.c.kek_id.in_(sorted(kek_ids)))).all()
    )
