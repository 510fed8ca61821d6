"""The sandbox provider's state and rules: envelopes, recipients, single-use signing tokens and
the event history, which doubles as the webhook outbox.

A signing token works like a vendor's embedded view URL: it is bound to the browser inkbridge
redirected (the SHA-256 of that browser's signer cookie), must be opened within ``open_within``
of being issued and used within ``session_lifetime`` of being opened, is burnt by signing or
declining, and issuing a new one for a recipient revokes that recipient's older ones.

Every change and the events it causes are written in one SQLite transaction, so a restart (with a
state file) resumes delivering exactly the events that were not yet acknowledged. Without a state
file the same schema lives in memory.
"""

from __future__ import annotations

import hmac
import json
import secrets
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from inkbridge.domain.events import EventType
from inkbridge.sandbox.provider_db import ProviderDatabase
from inkbridge.sandbox.provider_model import (
    ADMIN_ACTIONS,
    OPEN_WITHIN,
    SESSION_LIFETIME,
    TERMINAL_STATUSES,
    SandboxRefusal,
    SignerInput,
    SigningSession,
    cookie_binding,
)
from inkbridge.sandbox.provider_wire import build_event, encode_event, new_msg_id, utc_now

Answer = Literal["signed", "declined"]

# A recipient's answer and the moment they gave it, one fixed statement per answer.
_RECORD_ANSWER: dict[Answer, str] = {
    "signed": "UPDATE recipients SET status = 'signed', signed_at = ?"
    " WHERE envelope_id = ? AND recipient_id = ?",
    "declined": "UPDATE recipients SET status = 'declined', declined_at = ?"
    " WHERE envelope_id = ? AND recipient_id = ?",
}


class EnvelopeBook:
    """The envelope rules over a ``ProviderDatabase``; each method is one transaction."""

    def __init__(
        self,
        db: ProviderDatabase,
        *,
        clock: Callable[[], datetime] = utc_now,
        open_within: timedelta = OPEN_WITHIN,
        session_lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self._db = db
        self._clock = clock
        self._open_within = open_within
        self._session_lifetime = session_lifetime

    # -- envelopes ---------------------------------------------------------------------------

    def create(
        self,
        *,
        template_id: str,
        title: str,
        signers: Sequence[SignerInput],
        metadata: Mapping[str, str],
        merge_fields: Mapping[str, str],
        idempotency_key: str | None = None,
    ) -> tuple[str, str]:
        """Create and send an envelope: one ``document_sent`` per recipient.

        Returns (envelope id, status). A repeated ``idempotency_key`` returns the envelope it
        created the first time, so a client retrying after a lost answer sends nothing twice.
        """
        envelope_id = "sbx_" + secrets.token_hex(12)
        now = self._clock()
        with self._db.transaction() as db:
            if idempotency_key is not None:
                earlier = db.execute(
                    "SELECT id, status FROM envelopes WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchone()
                if earlier is not None:
                    return earlier["id"], earlier["status"]
            db.execute(
                "INSERT INTO envelopes (id, template_id, title, status, metadata, merge_fields,"
                " idempotency_key, created_at) VALUES (?, ?, ?, 'sent', ?, ?, ?, ?)",
                (
                    envelope_id,
                    template_id,
                    title,
                    json.dumps(dict(metadata)),
                    json.dumps(dict(merge_fields)),
                    idempotency_key,
                    now.isoformat(),
                ),
            )
            for position, signer in enumerate(signers):
                db.execute(
                    "INSERT INTO recipients (envelope_id, recipient_id, position, email, name,"
                    " status) VALUES (?, ?, ?, ?, ?, 'sent')",
                    (envelope_id, signer.recipient_id, position, signer.email, signer.name),
                )
            envelope = self._envelope(db, envelope_id)
            recipients = self._recipients(db, envelope_id)
            if not recipients:
                self._emit(db, envelope, EventType.DOCUMENT_SENT, None, now)
            for recipient in recipients:
                self._emit(db, envelope, EventType.DOCUMENT_SENT, recipient, now)
        return envelope_id, "sent"

    def describe(self, envelope_id: str) -> dict[str, Any] | None:
        """Status, recipients and the full event history, as ``GET /envelopes/{id}`` shows it."""
        rows = self._db.fetch("SELECT * FROM envelopes WHERE id = ?", (envelope_id,))
        if not rows:
            return None
        row = rows[0]
        recipients = self._db.fetch(
            "SELECT * FROM recipients WHERE envelope_id = ? ORDER BY position", (envelope_id,)
        )
        events = self._db.fetch(
            "SELECT msg_id, type, occurred_at, recipient_id, recipient_email, delivery"
            " FROM events WHERE envelope_id = ? ORDER BY seq",
            (envelope_id,),
        )
        return {
            "envelope_id": row["id"],
            "status": row["status"],
            "template_id": row["template_id"],
            "title": row["title"],
            "delivery_failed": bool(row["delivery_failed"]),
            "created_at": row["created_at"],
            "metadata": json.loads(row["metadata"]),
            "merge_fields": json.loads(row["merge_fields"]),
            "recipients": [
                {
                    key: r[key]
                    for key in (
                        "recipient_id",
                        "email",
                        "name",
                        "status",
                        "viewed_at",
                        "signed_at",
                        "declined_at",
                    )
                }
                for r in recipients
            ],
            "events": [dict(e) for e in events],
        }

    def admin_action(
        self,
        envelope_id: str,
        action: str,
        *,
        recipient_id: str | None = None,
        force: bool = False,
        occurred_at: datetime | None = None,
    ) -> None:
        """void / expire / bounce / remind. ``force`` emits the event even on a finished
        envelope (leaving its status alone), which is how tests provoke terminal conflicts."""
        event_type, new_status = ADMIN_ACTIONS[action]
        when = occurred_at or self._clock()
        with self._db.transaction() as db:
            envelope = self._envelope(db, envelope_id)
            if envelope["status"] in TERMINAL_STATUSES and not force:
                raise SandboxRefusal(409, f"envelope is already {envelope['status']}")
            recipient = None
            if recipient_id is not None:
                recipient = self._recipient(db, envelope_id, recipient_id)
            if new_status is not None and envelope["status"] not in TERMINAL_STATUSES:
                db.execute(
                    "UPDATE envelopes SET status = ? WHERE id = ?", (new_status, envelope_id)
                )
            if event_type is EventType.DOCUMENT_DELIVERY_FAILED:
                db.execute("UPDATE envelopes SET delivery_failed = 1 WHERE id = ?", (envelope_id,))
            self._emit(db, envelope, event_type, recipient, when)

    # -- signing -----------------------------------------------------------------------------

    def issue_token(
        self, envelope_id: str, recipient_id: str, return_url: str | None, binding: str
    ) -> str:
        """A signing token for one recipient, bound to one browser; the recipient's older
        unused tokens stop working."""
        with self._db.transaction() as db:
            envelope = self._envelope(db, envelope_id)
            if envelope["status"] in TERMINAL_STATUSES:
                raise SandboxRefusal(409, f"envelope is {envelope['status']}")
            recipient = self._recipient(db, envelope_id, recipient_id)
            if recipient["status"] in {"signed", "declined"}:
                raise SandboxRefusal(409, f"recipient has already {recipient['status']}")
            db.execute(
                "UPDATE tokens SET revoked = 1"
                " WHERE envelope_id = ? AND recipient_id = ? AND used = 0 AND revoked = 0",
                (envelope_id, recipient_id),
            )
            token = secrets.token_urlsafe(24)
            db.execute(
                "INSERT INTO tokens (token, envelope_id, recipient_id, return_url, created_at,"
                " binding) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token,
                    envelope_id,
                    recipient_id,
                    return_url,
                    self._clock().isoformat(),
                    binding,
                ),
            )
        return token

    def open_session(self, token: str, cookie: str | None) -> SigningSession:
        """The signing page was shown to the bound browser: the token's opening starts its
        session lifetime, and the recipient's first view emits ``document_viewed``."""
        now = self._clock()
        with self._db.transaction() as db:
            envelope, recipient, row = self._redeemable(db, token, cookie, now)
            if row["opened_at"] is None:
                db.execute(
                    "UPDATE tokens SET opened_at = ? WHERE token = ?", (now.isoformat(), token)
                )
            self._mark_viewed(db, envelope, recipient, now)
            return self._session(envelope, recipient, row)

    def answer(self, token: str, cookie: str | None, answer: Answer) -> SigningSession:
        """Record the recipient's answer and burn the token: the last signature completes the
        envelope, one decline ends it."""
        now = self._clock()
        with self._db.transaction() as db:
            envelope, recipient, row = self._redeemable(db, token, cookie, now)
            self._burn(db, token)
            self._mark_viewed(db, envelope, recipient, now)
            db.execute(
                _RECORD_ANSWER[answer],
                (now.isoformat(), envelope["id"], recipient["recipient_id"]),
            )
            if answer == "declined":
                status = "declined"
                self._emit(db, envelope, EventType.DOCUMENT_DECLINED, recipient, now)
            else:
                self._emit(db, envelope, EventType.RECIPIENT_SIGNED, recipient, now)
                unsigned = db.execute(
                    "SELECT COUNT(*) FROM recipients WHERE envelope_id = ? AND status != 'signed'",
                    (envelope["id"],),
                ).fetchone()[0]
                status = "partially_signed" if unsigned else "completed"
            db.execute("UPDATE envelopes SET status = ? WHERE id = ?", (status, envelope["id"]))
            if status == "completed":
                self._emit(db, envelope, EventType.DOCUMENT_COMPLETED, None, now)
            return self._session(envelope, recipient, row)

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _envelope(db: sqlite3.Connection, envelope_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM envelopes WHERE id = ?", (envelope_id,)
        ).fetchone()
        if row is None:
            raise SandboxRefusal(404, "envelope not found")
        return row

    @staticmethod
    def _recipients(db: sqlite3.Connection, envelope_id: str) -> list[sqlite3.Row]:
        return db.execute(
            "SELECT * FROM recipients WHERE envelope_id = ? ORDER BY position", (envelope_id,)
        ).fetchall()

    @staticmethod
    def _recipient(db: sqlite3.Connection, envelope_id: str, recipient_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM recipients WHERE envelope_id = ? AND recipient_id = ?",
            (envelope_id, recipient_id),
        ).fetchone()
        if row is None:
            raise SandboxRefusal(404, "recipient not found")
        return row

    def _redeemable(
        self, db: sqlite3.Connection, token: str, cookie: str | None, now: datetime
    ) -> tuple[sqlite3.Row, sqlite3.Row, sqlite3.Row]:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM tokens WHERE token = ?", (token,)
        ).fetchone()
        if row is None:
            raise SandboxRefusal(404, "This signing link is not valid.")
        binding = row["binding"]
        if (
            cookie is None
            or binding is None
            or not hmac.compare_digest(cookie_binding(cookie), binding)
        ):
            raise SandboxRefusal(
                403, "This signing page opens only in the browser that started the signing."
            )
        if row["used"]:
            raise SandboxRefusal(410, "This signing link has already been used.")
        if row["revoked"]:
            raise SandboxRefusal(410, "This signing link was replaced by a newer one.")
        opened = row["opened_at"]
        if opened is None:
            expired = now - datetime.fromisoformat(row["created_at"]) > self._open_within
        else:
            expired = now - datetime.fromisoformat(opened) > self._session_lifetime
        if expired:
            raise SandboxRefusal(410, "This signing link has expired.")
        envelope = self._envelope(db, row["envelope_id"])
        if envelope["status"] in TERMINAL_STATUSES:
            raise SandboxRefusal(410, f"This document is {envelope['status']}.")
        recipient = self._recipient(db, row["envelope_id"], row["recipient_id"])
        if recipient["status"] in {"signed", "declined"}:
            raise SandboxRefusal(410, f"You have already {recipient['status']} this document.")
        return envelope, recipient, row

    @staticmethod
    def _burn(db: sqlite3.Connection, token: str) -> None:
        db.execute("UPDATE tokens SET used = 1 WHERE token = ?", (token,))

    def _mark_viewed(
        self,
        db: sqlite3.Connection,
        envelope: sqlite3.Row,
        recipient: sqlite3.Row,
        when: datetime | None = None,
    ) -> None:
        if recipient["viewed_at"] is not None:
            return
        now = when or self._clock()
        db.execute(
            "UPDATE recipients SET viewed_at = ?, status = 'viewed'"
            " WHERE envelope_id = ? AND recipient_id = ? AND status = 'sent'",
            (now.isoformat(), envelope["id"], recipient["recipient_id"]),
        )
        db.execute(
            "UPDATE envelopes SET status = 'viewed' WHERE id = ? AND status = 'sent'",
            (envelope["id"],),
        )
        self._emit(db, envelope, EventType.DOCUMENT_VIEWED, recipient, now)

    @staticmethod
    def _session(
        envelope: sqlite3.Row, recipient: sqlite3.Row, token_row: sqlite3.Row
    ) -> SigningSession:
        return SigningSession(
            token=token_row["token"],
            envelope_id=envelope["id"],
            title=envelope["title"],
            signer_name=recipient["name"],
            merge_fields=json.loads(envelope["merge_fields"]),
            return_url=token_row["return_url"],
        )

    @staticmethod
    def _emit(
        db: sqlite3.Connection,
        envelope: sqlite3.Row,
        event_type: EventType,
        recipient: sqlite3.Row | None,
        occurred_at: datetime,
    ) -> None:
        recipient_id = recipient["recipient_id"] if recipient is not None else None
        recipient_email = recipient["email"] if recipient is not None else None
        event = build_event(
            event_type,
            envelope_id=envelope["id"],
            occurred_at=occurred_at,
            metadata=json.loads(envelope["metadata"]),
            recipient_id=recipient_id,
            recipient_email=recipient_email,
        )
        db.execute(
            "INSERT INTO events (msg_id, envelope_id, type, recipient_id, recipient_email,"
            " occurred_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                new_msg_id(),
                envelope["id"],
                event_type.value,
                recipient_id,
                recipient_email,
                occurred_at.isoformat(),
                encode_event(event),
            ),
        )
