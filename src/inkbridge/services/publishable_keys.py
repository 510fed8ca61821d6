"""Publishable keys: the credentials of the public capture endpoints (the snippet and
``POST /v1/touchpoints``). A key carries the capture scope only, is stored as its SHA-256, and
admits a request only from an origin on its allow-list. It is not an API token: neither is ever
accepted in place of the other (the prefixes differ and each is looked up in its own table)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from inkbridge.errors import InvalidInput, OriginNotAllowed, PublishableKeyRefused
from inkbridge.ids import new_id
from inkbridge.store import audit
from inkbridge.store import publishable_keys as key_store
from inkbridge.store.database import Databases

KEY_PREFIX = "pk_"
SCOPE = "capture"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class PublishableKey:
    """An active key as the capture endpoint sees it (never the key itself)."""

    key_id: str
    name: str
    origins: frozenset[str]
    region: str | None
    rate_per_minute: int | None

    def allows_origin(self, origin: str | None) -> bool:
        return origin is not None and origin in self.origins


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin``: lower case, the default port
    dropped. Anything else (a path, a query, credentials, a wildcard) is refused."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput("an origin must be scheme://host[:port]", field="origin") from None
    if (
        parts.scheme.lower() not in _DEFAULT_PORTS
        or not parts.hostname
        or "*" in text
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise InvalidInput(
            "an origin must be http(s)://host[:port], with no path, query or wildcard",
            field="origin",
        )
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    databases: Databases,
    name: str,
    origins: list[str],
    *,
    rate_per_minute: int | None = None,
    region: str | None = None,
    source: str = "cli",
) -> tuple[str, str]:
    """Create a key; returns (key id, the key itself — shown this once)."""
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a key needs a name of 1 to 200 characters", field="name")
    allowed = sorted({normalise_origin(o) for o in origins})
    if not allowed:
        raise InvalidInput("a key needs at least one allowed origin", field="origin")
    if rate_per_minute is not None and rate_per_minute < 1:
        raise InvalidInput("the rate must be at least 1 per minute", field="rate_per_minute")
    if region is not None and region not in databases.names:
        raise InvalidInput(f"unknown region {region!r}", field="region")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    key_id = new_id("pk")
    with databases.home.transaction() as conn:
        stored = key_store.StoredKey(
            id=key_id,
            name=name,
            origins=allowed,
            region=region,
            rate_per_minute=rate_per_minute,
            created_at=datetime.now(UTC),
        )
        key_store.insert(conn, stored, key_hash=_digest(key))
        audit.record_operator_action(
            conn,
            databases.home_region,
            source,
            f"{source}:publishable_key:created",
            key_id,
            {
                "name": name,
                "origins": allowed,
                "region": region,
                "rate_per_minute": rate_per_minute,
            },
        )
    return key_id, key


def revoke_key(databases: Databases, key_id: str, *, source: str = "cli") -> bool:
    """Revoke an active key; False when there is no such active key (nothing is recorded)."""
    with databases.home.transaction() as conn:
        if not key_store.revoke(conn, key_id, datetime.now(UTC)):
            return False
        audit.record_operator_action(
            conn, databases.home_region, source, f"{source}:publishable_key:revoked", key_id
        )
    return True


def list_keys(databases: Databases) -> list[dict[str, Any]]:
    with databases.home.reader() as conn:
        rows = key_store.all_keys(conn)
    return [
        {
            "id": r.id,
            "name": r.name,
            "origins": list(r.origins),
            "region": r.region,
            "rate_per_minute": r.rate_per_minute,
            "created_at": r.created_at.isoformat(),
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]


def authenticate(databases: Databases, key: str | None) -> PublishableKey | None:
    """The active key ``key`` names, or None (a bearer API token is never one)."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    with databases.home.reader() as conn:
        row = key_store.active_by_hash(conn, _digest(key))
    if row is None:
        return None
    return PublishableKey(
        key_id=row.id,
        name=row.name,
        origins=frozenset(row.origins),
        region=row.region,
        rate_per_minute=row.rate_per_minute,
    )


def admit(databases: Databases, key: str | None, origin: str | None) -> PublishableKey:
    """The key of a public capture call, checked against the call's ``Origin``."""
    found = authenticate(databases, key)
    if found is None:
        reason = "a publishable key is required" if not key else "unknown or revoked key"
        raise PublishableKeyRefused(reason)
    if not found.allows_origin(origin):
        raise OriginNotAllowed()
    return found
