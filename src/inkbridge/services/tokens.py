"""API tokens: random bearer secrets stored only as SHA-256 hashes, each with least-privilege
scopes, an optional expiry and the time of last use. A token is shown once, when it is created
or rotated; creating, rotating and revoking one are audit entries naming who did it."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from inkbridge.errors import InvalidInput, NotFound
from inkbridge.ids import new_id
from inkbridge.store import api_tokens, audit
from inkbridge.store.database import Databases

# ``documents``: signed documents streamed from the providers (every access audited);
# ``privacy``: erasure of a lead (data subject requests); ``golive``: the go-live checks, on
# the routes that declare it and on the test namespace only.
SCOPES = frozenset(
    {"leads:write", "envelopes:write", "read", "documents", "privacy", "admin", "golive"}
)
TOKEN_PREFIX = "ibk_"  # noqa: S105 - a format prefix, not a secret
# last_used_at is a hint for operators, not a ledger: refreshing it at most this often keeps
# the authentication read path from writing on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True)
class TokenIdentity:
    token_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``admin`` holds every scope; otherwise the scope must be granted by name."""
        return "admin" in self.scopes or scope in self.scopes

    @property
    def actor(self) -> str:
        """How audit entries name this token."""
        return f"token:{self.token_id}"


@dataclass(frozen=True)
class IssuedToken:
    """A token as created or rotated: its id, the secret (shown this once) and its expiry."""

    token_id: str
    token: str
    scopes: tuple[str, ...]
    expires_at: datetime | None

    def __iter__(self) -> Iterator[str]:
        """Unpacks as ``token_id, token``, the shape callers had before expiry existed."""
        return iter((self.token_id, self.token))


def parse_duration(text: str, field: str = "expires_in") -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a positive duration."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"{text!r} is not a duration like 30d, 12h or 90m", field=field)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _checked_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput(
            f"scopes must be among {sorted(SCOPES)}; got {unknown or 'none'}", field="scopes"
        )
    return sorted(set(scopes))


def _insert(
    conn: Connection, name: str, scopes: list[str], now: datetime, expires_at: datetime | None
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    stored = api_tokens.StoredToken(
        id=token_id, name=name, scopes=scopes, created_at=now, expires_at=expires_at
    )
    api_tokens.insert(conn, stored, token_hash=_digest(token))
    return IssuedToken(token_id, token, tuple(scopes), expires_at)


def create_token(
    databases: Databases,
    name: str,
    scopes: list[str],
    *,
    expires_in: timedelta | None = None,
    actor: str = "cli",
    source: str = "cli",
) -> IssuedToken:
    """Create a token (shown this once), audited as ``<source>:token:created``."""
    checked = _checked_scopes(scopes)
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("the lifetime must be positive", field="expires_in")
    now = datetime.now(UTC)
    with databases.home.transaction() as conn:
        issued = _insert(conn, name, checked, now, now + expires_in if expires_in else None)
        _record_created(conn, databases, source=source, actor=actor, name=name, issued=issued)
    return issued


def ensure_admin_token(databases: Databases) -> IssuedToken | None:
    """The first start's admin token: created only when no usable admin token exists."""
    now = datetime.now(UTC)
    with databases.home.transaction() as conn:
        for row in api_tokens.unrevoked(conn):
            if "admin" in row.scopes and _usable(row.expires_at, now):
                return None
        issued = _insert(conn, "serve-admin", ["admin"], now, None)
        _record_created(
            conn, databases, source="serve", actor="serve", name="serve-admin", issued=issued
        )
    return issued


def _usable(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at > now


def authenticate(
    databases: Databases, token: str, *, now: datetime | None = None
) -> TokenIdentity | None:
    """The identity of an unrevoked, unexpired token; None for anything else."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    moment = now or datetime.now(UTC)
    with databases.home.reader() as conn:
        row = api_tokens.unrevoked_by_hash(conn, _digest(token))
    if row is None or not _usable(row.expires_at, moment):
        return None
    if row.last_used_at is None or row.last_used_at <= moment - LAST_USED_RESOLUTION:
        _touch(databases, row.id, moment)
    return TokenIdentity(token_id=row.id, name=row.name, scopes=frozenset(row.scopes))


def _touch(databases: Databases, token_id: str, moment: datetime) -> None:
    with databases.home.transaction() as conn:
        api_tokens.touch(conn, token_id, moment=moment, unless_since=moment - LAST_USED_RESOLUTION)


def rotate_token(
    databases: Databases, token_id: str, *, overlap: timedelta, actor: str = "cli"
) -> IssuedToken:
    """A successor with the same name, scopes and lifetime; the old token stops working after
    ``overlap`` (or at its own expiry, if sooner) and records the successor in ``rotated_to``."""
    if overlap < timedelta(0):
        raise InvalidInput("the overlap must not be negative", field="overlap")
    now = datetime.now(UTC)
    with databases.home.transaction() as conn:
        old = api_tokens.find(conn, token_id)
        if old is None or old.revoked_at is not None or not _usable(old.expires_at, now):
            raise NotFound("active token", token_id)
        if old.rotated_to is not None:
            raise InvalidInput(f"already rotated to {old.rotated_to}", field="token_id")
        lifetime = old.expires_at - old.created_at if old.expires_at is not None else None
        issued = _insert(
            conn, old.name, list(old.scopes), now, now + lifetime if lifetime else None
        )
        retire_at = now + overlap
        if old.expires_at is not None:
            retire_at = min(retire_at, old.expires_at)
        api_tokens.retire(conn, token_id, expires_at=retire_at, successor=issued.token_id)
        audit.record_operator_action(
            conn,
            databases.home_region,
            actor,
            "cli:token:rotated",
            token_id,
            {
                "successor": issued.token_id,
                "old_expires_at": retire_at.isoformat(),
                "overlap_seconds": int(overlap.total_seconds()),
            },
        )
    return issued


def revoke_token(databases: Databases, token_id: str, *, actor: str = "cli") -> bool:
    with databases.home.transaction() as conn:
        revoked = api_tokens.revoke(conn, token_id, datetime.now(UTC))
        if revoked:
            audit.record_operator_action(
                conn, databases.home_region, actor, "cli:token:revoked", token_id
            )
    return revoked


def list_tokens(databases: Databases) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    with databases.home.reader() as conn:
        rows = api_tokens.all_tokens(conn)

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment is not None else None

    return [
        {
            "id": r.id,
            "name": r.name,
            "scopes": list(r.scopes),
            "created_at": r.created_at.isoformat(),
            "expires_at": iso(r.expires_at),
            "last_used_at": iso(r.last_used_at),
            "rotated_to": r.rotated_to,
            "revoked": r.revoked_at is not None,
            "expired": not _usable(r.expires_at, now),
        }
        for r in rows
    ]


def _record_created(
    conn: Connection,
    databases: Databases,
    *,
    source: str,
    actor: str,
    name: str,
    issued: IssuedToken,
) -> None:
    audit.record_operator_action(
        conn,
        databases.home_region,
        actor,
        f"{source}:token:created",
        issued.token_id,
        {
            "name": name,
            "scopes": list(issued.scopes),
            "expires_at": issued.expires_at.isoformat() if issued.expires_at else None,
        },
    )
