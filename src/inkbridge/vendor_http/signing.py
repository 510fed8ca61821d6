"""Standard Webhooks signing and verification (https://www.standardwebhooks.com): shared by the
inbound adapter that verifies senders, the outbound webhook destination and the sandbox provider
that sign, and the trigger endpoints.

Signed content is ``{id}.{timestamp}.{raw body}``; the HMAC key is the base64-decoded secret
after ``whsec_``. Several secrets may be active at once (rotation); any valid one passes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from inkbridge.errors import SignatureInvalid

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (base64 after the prefix)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("a Standard Webhooks secret must be base64 after 'whsec_'") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secrets: Sequence[SecretStr],
    headers: dict[str, str] | Any,
    body: bytes,
    now: datetime,
    tolerance_seconds: int = 300,
) -> None:
    """Raise ``SignatureInvalid`` unless one ``v1`` signature matches one of the secrets."""
    verify_with_keys(usable_keys(secrets), headers, body, now, tolerance_seconds)


def usable_keys(secrets: Sequence[SecretStr]) -> list[bytes]:
    """The HMAC keys of ``secrets``; a secret that is not valid base64 matches nothing."""
    keys: list[bytes] = []
    for secret in secrets:
        with contextlib.suppress(ValueError):
            keys.append(secret_key(secret.get_secret_value()))
    return keys


def verify_with_keys(
    keys: Sequence[bytes],
    headers: dict[str, str] | Any,
    body: bytes,
    now: datetime,
    tolerance_seconds: int = 300,
) -> None:
    """``verify`` with the keys already decoded, as the hot path holds them."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signature_header = headers.get("webhook-signature")
    if not msg_id or not stamp or not signature_header:
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureInvalid("webhook-timestamp is not an integer") from None
    skew = now.timestamp() - timestamp
    if skew > tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp is too old")
    if skew < -tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp is in the future")
    offered = [
        part.split(",", 1)[1].encode()
        for part in signature_header.split(" ")
        if part.startswith("v1,")
    ]
    if not offered:
        raise SignatureInvalid("no v1 signature offered")
    content = f"{msg_id}.{timestamp}.".encode() + body
    for key in keys:
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
        # Compare against every offered signature without stopping early on a match.
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise SignatureInvalid("no signature matched")
