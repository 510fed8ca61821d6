"""Signer session rows: issued with the older unredeemed ones of the same recipient revoked,
redeemed once by a guarded update, and read back as evidence. Token hashes only, never tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from inkbridge.privacy.keyring import Subject
from inkbridge.store import sealed_fields
from inkbridge.store.schema import envelopes, signer_sessions


def lock_envelope(conn: Connection, envelope_id: str) -> Row[Any] | None:
    """The envelope row, locked for the transaction on PostgreSQL (SQLite's writer lock already
    serialises), so two sessions issued at once for one recipient cannot both stay valid."""
    return conn.execute(
        select(envelopes).where(envelopes.c.id == envelope_id).with_for_update()
    ).first()


def revoke_open(conn: Connection, envelope_id: str, recipient_id: str, now: datetime) -> list[str]:
    """Revoke the recipient's sessions nobody redeemed yet; returns their ids."""
    open_rows = conn.execute(
        select(signer_sessions.c.id).where(
            signer_sessions.c.envelope_id == envelope_id,
            signer_sessions.c.recipient_id == recipient_id,
            signer_sessions.c.redeemed_at.is_(None),
            signer_sessions.c.revoked_at.is_(None),
        )
    ).all()
    ids = [r.id for r in open_rows]
    if ids:
        conn.execute(
            update(signer_sessions)
            .where(
                signer_sessions.c.id.in_(ids),
                signer_sessions.c.redeemed_at.is_(None),
                signer_sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
    return ids


def insert(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(signer_sessions.insert().values(**row))


def by_token_hash(conn: Connection, token_hash: str) -> Row[Any] | None:
    return conn.execute(
        select(signer_sessions).where(signer_sessions.c.token_hash == token_hash)
    ).first()


def redeem(
    conn: Connection,
    token_hash: str,
    now: datetime,
    *,
    ip: str | None,
    user_agent: str | None,
    subject: Subject,
) -> bool:
    """Consume the session atomically: true for exactly one caller, however many race, and
    never for a redeemed, revoked or expired one. The (minimised) IP and user agent are sealed
    under ``subject``, the envelope's."""
    result = conn.execute(
        update(signer_sessions)
        .where(
            signer_sessions.c.token_hash == token_hash,
            signer_sessions.c.redeemed_at.is_(None),
            signer_sessions.c.revoked_at.is_(None),
            signer_sessions.c.expires_at > now,
        )
        .values(
            redeemed_at=now,
            redeemed_ip=sealed_fields.seal_text(conn, subject, "signer_sessions.redeemed_ip", ip),
            redeemed_user_agent=sealed_fields.seal_text(
                conn, subject, "signer_sessions.redeemed_user_agent", user_agent
            ),
        )
    )
    return result.rowcount == 1


def for_envelopes(conn: Connection, envelope_ids: Sequence[str]) -> list[Row[Any]]:
    """Every session of these envelopes, oldest first."""
    if not envelope_ids:
        return []
    return list(
        conn.execute(
            select(signer_sessions)
            .where(signer_sessions.c.envelope_id.in_(list(envelope_ids)))
            .order_by(signer_sessions.c.issued_at, signer_sessions.c.id)
        ).all()
    )
