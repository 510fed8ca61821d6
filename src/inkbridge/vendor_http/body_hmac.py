"""A plain HMAC-SHA256 of the raw body in one header, the scheme several senders use (GitHub's
``X-Hub-Signature-256: sha256=<hex>`` is one): the key is the secret's UTF-8 bytes, the digest
is sent as hex or base64 after an optional prefix. Nothing signed carries a time, so this scheme
cannot refuse a replay; the receiver's deduplication does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from inkbridge.errors import SignatureInvalid

Encoding = Literal["hex", "base64"]


def body_signature(secret: str, body: bytes, encoding: Encoding = "hex", prefix: str = "") -> str:
    """The header value a sender computes for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return prefix + text


def _offered_digest(value: str, encoding: Encoding, prefix: str) -> bytes | None:
    if prefix:
        if not value.lower().startswith(prefix.lower()):
            return None
        value = value[len(prefix) :]
    try:
        if encoding == "hex":
            return bytes.fromhex(value.strip())
        return base64.b64decode(value.strip(), validate=True)
    except (ValueError, binascii.Error):
        return None


@dataclass(frozen=True)
class BodyHmacVerifier:
    """Verifies one connection's deliveries against any of its secrets (rotation)."""

    secrets: Sequence[SecretStr]
    header: str
    encoding: Encoding = "hex"
    prefix: str = ""

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        value = headers.get(self.header.lower(), "")
        if not value:
            raise SignatureInvalid(f"missing {self.header}")
        offered = _offered_digest(value, self.encoding, self.prefix)
        if offered is None:
            raise SignatureInvalid(f"{self.header} is not a {self.encoding} HMAC-SHA256")
        matched = False
        # Every secret is compared, so the time taken does not tell which one came close.
        for secret in self.secrets:
            expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).digest()
            matched |= hmac.compare_digest(expected, offered)
        if not matched:
            raise SignatureInvalid("no signature matched")
