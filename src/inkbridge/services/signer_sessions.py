"""Verified signer sessions: issue a one-time, short-lived ``/sign/{opaque}`` link for a signer
the integrator authenticated, and redeem it once, only then asking the provider for its
embedded signing URL.

Only the SHA-256 of the opaque token is stored, in the envelope's region. Issuing revokes the
recipient's unredeemed older sessions; redeeming is one guarded update, so of any number of
concurrent redemptions exactly one wins. Both leave an audit entry with the evidence
(``api:signer_session:issued``, ``web:signer_session:redeemed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inkbridge.config import ConnectionSettings, SigningSettings, TemplateSettings
from inkbridge.domain.consent import minimise_ip
from inkbridge.domain.lifecycle import TERMINAL
from inkbridge.domain.signer_session import (
    AuthenticationAge,
    AuthMethod,
    authentication_age,
    minimise_user_agent,
    origin_of,
    return_url_allowed,
    subject_hash,
)
from inkbridge.errors import InkbridgeError, InvalidInput, NotFound, SignerMismatch, StateConflict
from inkbridge.ids import hash_identifier, new_id
from inkbridge.providers.base import ProviderClient, Signer, SignerAuthentication, SigningRequest
from inkbridge.services.envelopes import find_envelope
from inkbridge.store import audit, sealed_fields
from inkbridge.store import envelopes as envelope_store
from inkbridge.store import signer_sessions as session_store
from inkbridge.store.database import Databases, RegionDatabase

SIGN_PATH = "/sign/"
_FINISHED_RECIPIENT = frozenset({"signed", "declined"})
# secrets.token_urlsafe(32) gives 43 characters; anything unlike it is not worth a query.
_OPAQUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class SessionRequest:
    """The integrator's account of the signer it authenticated."""

    recipient_id: str
    email: str
    subject: str  # the integrator's own user id for the signer
    auth_method: AuthMethod
    authenticated_at: datetime
    return_url: str | None = None


@dataclass(frozen=True)
class IssuedSession:
    session_id: str
    url: str  # {public_url}/sign/{opaque}: the only time the opaque token exists in full
    expires_at: datetime


@dataclass
class SessionUnavailable(InkbridgeError):
    """A ``/sign/`` link that is unknown, used, expired, revoked or lost a race. The reason is
    for tests and logs; the signer is told nothing more than that the link does not work."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Redemption:
    """A redeemed session: where to send the browser, and the cookie that binds it."""

    session_id: str
    provider_url: str
    cookie_value: str


def token_hash(opaque: str) -> str:
    return hashlib.sha256(opaque.encode("utf-8")).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput("must carry a time zone", field="authenticated_at")
    return moment.astimezone(UTC)


def _check_open(envelope_id: str, state: str, provider_envelope_id: str | None) -> None:
    if state in TERMINAL:
        raise StateConflict("envelope", envelope_id, state)
    if provider_envelope_id is None:
        raise StateConflict("envelope", envelope_id, "not at the provider yet")


def _claim(
    db: RegionDatabase,
    hashed: str,
    now: datetime,
    ip: str | None,
    user_agent: str | None,
) -> tuple[Any, Any] | None:
    """Consume the session in this region if it lives here: (session, recipient) or None when
    the region does not hold it. Raises ``SessionUnavailable`` when it cannot be used."""
    with db.transaction() as conn:
        session = session_store.by_token_hash(conn, hashed)
        if session is None:
            return None
        envelope = envelope_store.get(conn, session.envelope_id)
        if envelope is None or envelope.state in TERMINAL:
            raise SessionUnavailable("the envelope is finished")
        subject = sealed_fields.envelope_subject(envelope.id, envelope.lead_id)
        if not session_store.redeem(
            conn, hashed, now, ip=ip, user_agent=user_agent, subject=subject
        ):
            raise SessionUnavailable("used, revoked, expired or redeemed concurrently")
        recipient = next(
            (
                r
                for r in envelope_store.recipient_rows(conn, session.envelope_id)
                if r.recipient_id == session.recipient_id
            ),
            None,
        )
        if recipient is None:
            raise SessionUnavailable("the recipient is gone")
        audit.record(
            conn,
            region=db.region,
            actor="web",
            action="web:signer_session:redeemed",
            subject_id=session.envelope_id,
            correlation_id=session.correlation_id,
            at=now,
            details={
                "session_id": session.id,
                "recipient_id": session.recipient_id,
                "subject_sha256": session.subject_hash,
                "auth_method": session.auth_method,
                "authenticated_at": session.authenticated_at.isoformat(),
                "issued_at": session.issued_at.isoformat(),
                "redeemed_at": now.isoformat(),
                # Hashes only: the audit log is kept after an erasure.
                "ip_sha256": hash_identifier(ip) if ip else None,
                "user_agent_sha256": hash_identifier(user_agent) if user_agent else None,
            },
        )
    return session, (envelope, recipient)


@dataclass(frozen=True)
class SignerSessions:
    """Issuing and redeeming signer sessions; built once by bootstrap with the regions'
    databases, the providers' API clients, the templates and connections (their allowed return
    origins), the signing settings, the subject-hash key and the public base URL."""

    databases: Databases
    providers: Mapping[str, ProviderClient]
    templates: Mapping[str, TemplateSettings]
    connections: Mapping[str, ConnectionSettings]
    signing: SigningSettings
    subject_key: bytes | None
    base_url: str

    def _allowed_origins(self, envelope: Any) -> frozenset[str]:
        origins: set[str] = set()
        template = self.templates.get(envelope.template_key or "")
        if template is not None:
            origins.update(template.return_origins)
        connection = self.connections.get(envelope.connection)
        if connection is not None:
            origins.update(connection.return_origins)
        return frozenset(origins)

    def issue_session(
        self,
        envelope_id: str,
        request: SessionRequest,
        *,
        token_id: str | None = None,
        now: datetime | None = None,
    ) -> IssuedSession:
        """Check the integrator's account of the signer and issue a one-time signing link."""
        now = now or datetime.now(UTC)
        signing = self.signing
        db, envelope = find_envelope(self.databases, envelope_id)
        _check_open(envelope_id, envelope.state, envelope.provider_envelope_id)
        with db.reader() as conn:
            recipient = next(
                (
                    r
                    for r in envelope_store.recipient_rows(conn, envelope_id)
                    if r.recipient_id == request.recipient_id
                ),
                None,
            )
        if recipient is None:
            raise NotFound("recipient", request.recipient_id)
        if recipient.status in _FINISHED_RECIPIENT:
            raise StateConflict("recipient", request.recipient_id, recipient.status)
        stored = (recipient.email or "").strip().casefold()
        if not stored or stored != request.email.strip().casefold():
            raise SignerMismatch(envelope_id, request.recipient_id)
        authenticated_at = _as_utc(request.authenticated_at)
        age = authentication_age(
            authenticated_at, now, max_age=signing.max_auth_age, skew=signing.clock_skew
        )
        if age is AuthenticationAge.FUTURE:
            raise InvalidInput("the authentication time is in the future", field="authenticated_at")
        if age is AuthenticationAge.STALE:
            minutes = signing.max_auth_age.total_seconds() / 60
            raise InvalidInput(
                f"the signer authenticated more than {minutes:g} minutes ago; authenticate again",
                field="authenticated_at",
            )
        if request.return_url is not None and not return_url_allowed(
            request.return_url, self._allowed_origins(envelope)
        ):
            # The URL itself is not echoed: it may carry the integrator's own identifiers.
            raise InvalidInput(
                "the origin is not on the template's or the connection's return_origins",
                field="return_url",
            )

        opaque = secrets.token_urlsafe(32)
        session_id = new_id("ssn")
        expires_at = now + signing.session_ttl
        hashed_subject = subject_hash(request.subject, self.subject_key)
        with db.transaction() as conn:
            locked = session_store.lock_envelope(conn, envelope_id)
            if locked is None:
                raise NotFound("envelope", envelope_id)
            _check_open(envelope_id, locked.state, envelope.provider_envelope_id)
            revoked = session_store.revoke_open(conn, envelope_id, request.recipient_id, now)
            session_store.insert(
                conn,
                {
                    "id": session_id,
                    "envelope_id": envelope_id,
                    "recipient_id": request.recipient_id,
                    "token_hash": token_hash(opaque),
                    "subject_hash": hashed_subject,
                    "auth_method": request.auth_method.value,
                    "authenticated_at": authenticated_at,
                    "return_url": request.return_url,
                    "issued_at": now,
                    "expires_at": expires_at,
                    "correlation_id": envelope.correlation_id,
                },
            )
            audit.record(
                conn,
                region=db.region,
                actor="api",
                action="api:signer_session:issued",
                subject_id=envelope_id,
                correlation_id=envelope.correlation_id,
                at=now,
                details={
                    "session_id": session_id,
                    "recipient_id": request.recipient_id,
                    "subject_sha256": hashed_subject,
                    "auth_method": request.auth_method.value,
                    "authenticated_at": authenticated_at.isoformat(),
                    "issued_at": now.isoformat(),
                    "expires_at": expires_at.isoformat(),
                    "return_origin": origin_of(request.return_url) if request.return_url else None,
                    "revoked_sessions": revoked,
                    "token_id": token_id,
                },
            )
        url = f"{self.base_url}{SIGN_PATH}{opaque}"
        return IssuedSession(session_id=session_id, url=url, expires_at=expires_at)

    async def redeem_session(
        self,
        opaque: str,
        *,
        ip: str | None,
        user_agent: str | None,
        now: datetime | None = None,
    ) -> Redemption:
        """Consume a ``/sign/`` link and only then ask the provider for its signing URL, bound to a
        fresh browser cookie. Raises ``SessionUnavailable``; provider failures propagate as
        ``RetryableError``/``PermanentError`` (the link is spent either way: ask for a new one)."""
        if not _OPAQUE.match(opaque):
            raise SessionUnavailable("not a session token")
        now = now or datetime.now(UTC)
        hashed = token_hash(opaque)
        short_ip, short_agent = minimise_ip(ip), minimise_user_agent(user_agent)
        claimed = None
        for db in self.databases:
            # A thread: the guarded update may wait on another redemption's row lock.
            claimed = await asyncio.to_thread(_claim, db, hashed, now, short_ip, short_agent)
            if claimed is not None:
                break
        if claimed is None:
            raise SessionUnavailable("unknown")
        session, (envelope, recipient) = claimed
        provider = self.providers.get(envelope.connection)
        if provider is None or envelope.provider_envelope_id is None:
            raise SessionUnavailable("the envelope's connection has no provider API")
        cookie_value = secrets.token_urlsafe(32)
        binding = hashlib.sha256(cookie_value.encode("utf-8")).hexdigest()
        url = await provider.signing_url(
            SigningRequest(
                provider_envelope_id=envelope.provider_envelope_id,
                signer=Signer(
                    email=recipient.email or "",
                    name=recipient.name or "",
                    recipient_id=str(session.recipient_id),
                ),
                return_url=session.return_url,
                authentication=SignerAuthentication(
                    method=session.auth_method,
                    authenticated_at=session.authenticated_at,
                    binding=binding,
                ),
            )
        )
        return Redemption(session_id=session.id, provider_url=url, cookie_value=cookie_value)
