"""API tokens: random bearer secrets stored only as SHA-256 hashes, each with least-privilege
scopes. A token is shown once, when it is created."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from inkbridge.errors import InvalidInput
from inkbridge.ids import new_id
from inkbridge.store import audit
from inkbridge.store.database import Databases
from inkbridge.store.schema import api_tokens

SCOPES = frozenset({"leads:write", "envelopes:write", "read", "admin"})
TOKEN_PREFIX = "ibk_"  # noqa: S105 - a format prefix, not a secret


@dataclass(frozen=True)
class TokenIdentity:
    token_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``admin`` holds every scope; otherwise the scope must be granted by name."""
        return "admin" in self.scopes or scope in self.scopes


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(databases: Databases, name: str, scopes: list[str]) -> tuple[str, str]:
    """Create a token; returns (token id, the token itself — shown this once)."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput(
            f"scopes must be among {sorted(SCOPES)}; got {unknown or 'none'}", field="scopes"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    with databases.home.transaction() as conn:
        conn.execute(
            api_tokens.insert().values(
                id=token_id,
                name=name,
                token_hash=_digest(token),
                scopes=sorted(set(scopes)),
                created_at=datetime.now(UTC),
            )
        )
        audit.record(
            conn,
            region=databases.home_region,
            actor="cli",
            action="cli:token:created",
            subject_id=token_id,
            correlation_id=None,
            details={"name": name, "scopes": sorted(set(scopes))},
        )
    return token_id, token


def authenticate(databases: Databases, token: str) -> TokenIdentity | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    with databases.home.reader() as conn:
        row = conn.execute(
            select(api_tokens).where(
                api_tokens.c.token_hash == _digest(token), api_tokens.c.revoked_at.is_(None)
            )
        ).first()
    if row is None:
        return None
    return TokenIdentity(token_id=row.id, name=row.name, scopes=frozenset(row.scopes))


def revoke_token(databases: Databases, token_id: str) -> bool:
    with databases.home.transaction() as conn:
        result = conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(result.rowcount)


def list_tokens(databases: Databases) -> list[dict[str, object]]:
    with databases.home.reader() as conn:
        rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at)).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "scopes": r.scopes,
            "created_at": r.created_at.isoformat(),
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]
