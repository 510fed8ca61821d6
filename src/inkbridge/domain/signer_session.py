"""Verified signer sessions: the rules that decide whether an integrator's account of its signer
is good enough to open a signing session, and how the evidence of it is minimised. No I/O.

The integrator's application authenticates the signer itself (its login, SSO, a one-time code)
and tells inkbridge how and when. inkbridge accepts that account only while it is fresh, only
for the recipient the envelope names, and only with a return address on an allow-list of exact
origins. What it keeps is evidence, not identity: a hash of the integrator's user id, the
method and time, and a network and browser coarse enough to name no one.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

# The browser that redeemed a session carries this cookie; a provider page that was handed the
# SHA-256 of its value (the binding) admits that browser only. ``__Host-``: Secure, Path=/ and
# no Domain, so no other host (not even a sibling subdomain) can set or overwrite it.
SIGNER_COOKIE = "__Host-inkbridge-signer"

MAX_URL_LENGTH = 2000


class AuthMethod(enum.StrEnum):
    """How the integrator authenticated the signer (a closed set, so evidence stays
    comparable across integrators)."""

    PASSWORD = "password"  # noqa: S105 - the name of a method, not a secret
    SSO = "sso"  # SAML or OpenID Connect single sign-on
    OTP = "otp"  # a one-time code sent by email or SMS
    MFA = "mfa"  # a password plus a second factor
    PASSKEY = "passkey"  # WebAuthn
    MAGIC_LINK = "magic_link"  # a one-time link to the signer's mailbox


class AuthenticationAge(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"  # older than the configured maximum age
    FUTURE = "future"  # later than now by more than the allowed clock skew


def authentication_age(
    authenticated_at: datetime, now: datetime, *, max_age: timedelta, skew: timedelta
) -> AuthenticationAge:
    """Is an authentication at ``authenticated_at`` acceptable ``now``?"""
    if authenticated_at > now + skew:
        return AuthenticationAge.FUTURE
    if now - authenticated_at > max_age:
        return AuthenticationAge.STALE
    return AuthenticationAge.FRESH


_DEFAULT_PORTS = {"http": 80, "https": 443}
# Whitespace, control characters and backslashes: browsers "repair" them in ways that move the
# host (``https://good.example\\@evil.example``), so a URL carrying any of them is refused.
_SUSPICIOUS = re.compile(r"[\x00-\x20\x7f\\]")


def origin_of(url: str) -> str | None:
    """The normalised origin (``scheme://host[:port]``, default port left out) of an absolute
    http(s) URL, or None for anything else: other schemes, no host, credentials in the URL,
    whitespace or backslashes, an unreadable port."""
    if not url or len(url) > MAX_URL_LENGTH or _SUSPICIOUS.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalise_origin(text: str) -> str:
    """An allow-list entry as its normalised origin; raises ``ValueError`` for anything that is
    not exactly ``scheme://host[:port]`` (no path, query, fragment or wildcard)."""
    origin = origin_of(text)
    parts = urlsplit(text) if origin is not None else None
    if (
        origin is None
        or parts is None
        or "*" in text
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port])")
    return origin


def return_url_allowed(url: str, allowed_origins: frozenset[str]) -> bool:
    """Exact origin match against normalised allow-list entries: no suffix or wildcard tricks."""
    origin = origin_of(url)
    return origin is not None and origin in allowed_origins


def subject_hash(subject: str, key: bytes | None = None) -> str:
    """The integrator's user id as evidence: HMAC-SHA-256 under ``key`` when one is configured
    (so the id cannot be guessed back from the hash), otherwise SHA-256."""
    data = subject.encode("utf-8")
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


# Most specific first: Edge and Opera also say Chrome, Chrome also says Safari.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Headless Chrome", re.compile(r"\bHeadlessChrome/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
_UNKNOWN_AGENT_LENGTH = 40


def minimise_user_agent(user_agent: str | None) -> str | None:
    """Browser family and major version (``Firefox 128``), or, for an agent not recognised, its
    first 40 printable characters: enough to tell a browser from a script, too little to
    fingerprint anyone."""
    if not user_agent:
        return None
    for family, pattern in _BROWSERS:
        found = pattern.search(user_agent)
        if found:
            return f"{family} {found.group(1)}"
    printable = "".join(c for c in user_agent if c.isprintable()).strip()
    return printable[:_UNKNOWN_AGENT_LENGTH] or None
