"""The signer's authentication evidence, as the trace and the consent receipt show it: each
signer session of an envelope with what the integrator vouched for (hashed subject, method,
time), when it was issued and redeemed, from which minimised network and browser, and the
hash-chained audit entries that recorded it (checkable with ``inkbridge verify``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from inkbridge.store import audit, sealed_fields
from inkbridge.store import signer_sessions as session_store

SESSION_ACTIONS = ("api:signer_session:issued", "web:signer_session:redeemed")


def _status(row: Any, now: datetime) -> str:
    if row.redeemed_at is not None:
        return "redeemed"
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "open"


def signer_evidence(
    conn: Connection, envelope_ids: Sequence[str], now: datetime, *, redeemed_only: bool = False
) -> list[dict[str, Any]]:
    """Every signer session of these envelopes (or only the redeemed ones), oldest first."""
    rows = session_store.for_envelopes(conn, envelope_ids)
    if redeemed_only:
        rows = [r for r in rows if r.redeemed_at is not None]
    if not rows:
        return []
    entries = audit.entries_about(conn, {r.envelope_id for r in rows}, SESSION_ACTIONS)
    by_session: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        session_id = (entry.details or {}).get("session_id")
        if isinstance(session_id, str):
            by_session.setdefault(session_id, []).append(
                {"seq": entry.seq, "action": entry.action, "hash": entry.hash}
            )
    return [
        {
            "session_id": r.id,
            "envelope_id": r.envelope_id,
            "recipient_id": r.recipient_id,
            "status": _status(r, now),
            "subject_sha256": r.subject_hash,
            "auth_method": r.auth_method,
            "authenticated_at": r.authenticated_at.isoformat(),
            "issued_at": r.issued_at.isoformat(),
            "expires_at": r.expires_at.isoformat(),
            "redeemed_at": r.redeemed_at.isoformat() if r.redeemed_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            "ip": sealed_fields.open_text(conn, "signer_sessions.redeemed_ip", r.redeemed_ip),
            "user_agent": sealed_fields.open_text(
                conn, "signer_sessions.redeemed_user_agent", r.redeemed_user_agent
            ),
            "audit": by_session.get(r.id, []),
        }
        for r in rows
    ]
