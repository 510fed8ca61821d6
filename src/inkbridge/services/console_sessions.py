"""Console sessions: who is signed in to the console, with which scopes, until when.

A browser only ever holds an opaque, random session id (an HttpOnly cookie); the store keeps its
SHA-256, the audit actor, the scopes and the CSRF synchronizer token. ``open_session`` is the one
way a session starts: the token sign-in calls it after checking an API token, and an OpenID
Connect sign-in would call it with the actor and the scopes its group mapping grants. Signing in
and out are audit entries of the person (``console:session:signed_in`` / ``signed_out``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inkbridge.errors import InkbridgeError
from inkbridge.services.tokens import SCOPES, authenticate
from inkbridge.store import api_tokens, audit, console_sessions
from inkbridge.store.console_sessions import StoredSession
from inkbridge.store.database import Databases

DEFAULT_LIFETIME = timedelta(hours=8)
SOURCE = "console"


class SignInRefused(InkbridgeError):
    """The credential offered to the console admits no one (unknown, revoked, expired, or
    without the ``read`` scope every page needs): the page says so without saying which."""


@dataclass(frozen=True)
class ConsoleSession:
    """A live session, as the console's pages see it."""

    actor: str
    name: str
    scopes: frozenset[str]
    csrf_token: str
    expires_at: datetime

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the opaque id for the cookie (never stored) and the session itself."""

    session_id: str
    session: ConsoleSession


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _live(stored: StoredSession) -> ConsoleSession:
    return ConsoleSession(
        actor=stored.actor,
        name=stored.name,
        scopes=frozenset(stored.scopes),
        csrf_token=stored.csrf_token,
        expires_at=stored.expires_at,
    )


def open_session(
    databases: Databases,
    *,
    actor: str,
    name: str,
    scopes: frozenset[str],
    token_id: str | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
    method: str = "token",
) -> OpenedSession:
    """Start a session for ``actor`` holding ``scopes`` (an identity provider's sign-in calls
    this with its own actor, e.g. ``oidc:<issuer>#<subject>``, and ``method="oidc"``)."""
    granted = sorted(scopes & SCOPES)
    if not {"read", "admin"} & set(granted):
        # Every console page reads: a session that could open none of them is refused.
        raise SignInRefused
    now = datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    stored = StoredSession(
        actor=actor,
        name=name,
        scopes=granted,
        token_id=token_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    with databases.home.transaction() as conn:
        console_sessions.remove_expired(conn, now)
        console_sessions.insert(conn, _digest(session_id), stored)
        audit.record_operator_action(
            conn,
            databases.home_region,
            actor,
            f"{SOURCE}:session:signed_in",
            token_id,
            {"method": method, "scopes": granted, "expires_at": stored.expires_at.isoformat()},
        )
    return OpenedSession(session_id, _live(stored))


def sign_in_with_token(
    databases: Databases, token: str, lifetime: timedelta = DEFAULT_LIFETIME
) -> OpenedSession:
    """A session for the holder of an unrevoked, unexpired API token, with its scopes; the
    session never outlives the token."""
    identity = authenticate(databases, token.strip())
    if identity is None:
        raise SignInRefused
    with databases.home.reader() as conn:
        stored = api_tokens.find(conn, identity.token_id)
    if stored is not None and stored.expires_at is not None:
        lifetime = min(lifetime, stored.expires_at - datetime.now(UTC))
    return open_session(
        databases,
        actor=identity.actor,
        name=identity.name,
        scopes=identity.scopes,
        token_id=identity.token_id,
        lifetime=lifetime,
    )


def current_session(databases: Databases, session_id: str) -> ConsoleSession | None:
    """The live session of this id; None once expired, signed out, or when the token it was
    opened with has been revoked or has expired since."""
    now = datetime.now(UTC)
    with databases.home.reader() as conn:
        stored = console_sessions.find(conn, _digest(session_id), now)
        if stored is None:
            return None
        if stored.token_id is not None:
            token = api_tokens.find(conn, stored.token_id)
            if token is None or token.revoked_at is not None:
                return None
            if token.expires_at is not None and token.expires_at <= now:
                return None
    return _live(stored)


def close_session(databases: Databases, session_id: str) -> bool:
    """End the session (sign-out), audited as the person it belonged to."""
    now = datetime.now(UTC)
    with databases.home.transaction() as conn:
        stored = console_sessions.find(conn, _digest(session_id), now)
        if stored is None:
            return False
        console_sessions.remove(conn, _digest(session_id))
        audit.record_operator_action(
            conn,
            databases.home_region,
            stored.actor,
            f"{SOURCE}:session:signed_out",
            stored.token_id,
        )
    return True
