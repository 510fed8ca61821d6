"""The sender's side of each e-signature vendor's webhook signature: what DocuSign, Dropbox Sign,
PandaDoc and DocuSeal compute over a delivery before they send it. The provider adapters verify
these; ``inkbridge golive`` signs its test deliveries with them, and the vendor emulators and the
tests import them instead of keeping copies. Standard Webhooks is ``signing``; a plain body HMAC
in one header is ``body_hmac``. Acrobat Sign and Documenso sign nothing (a client id, a shared
secret in a header), so they have no function here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def _hmac_sha256(key: str, message: bytes) -> bytes:
    # Every vendor here documents its key as text, used as its UTF-8 bytes.
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


def docusign_signature(connect_key: str, body: bytes) -> str:
    """One ``X-DocuSign-Signature-N`` value: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(_hmac_sha256(connect_key, body)).decode()


def dropbox_sign_event_hash(api_key: str, event_time: str, event_type: str) -> str:
    """Dropbox Sign's ``event.event_hash``: hex HMAC-SHA256 of event_time + event_type (the rest
    of the body is not covered)."""
    return _hmac_sha256(api_key, f"{event_time}{event_type}".encode()).hex()


def pandadoc_signature(shared_key: str, body: bytes) -> str:
    """PandaDoc's ``?signature=`` query parameter: hex HMAC-SHA256 of the raw body."""
    return _hmac_sha256(shared_key, body).hex()


def docuseal_signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Docuseal-Signature``: ``<unix ts>.<hex HMAC-SHA256(secret, "<ts>." + body)>``, the
    ``whsec_…`` secret used as is (not base64-decoded as Standard Webhooks would)."""
    return f"{timestamp}.{_hmac_sha256(secret, f'{timestamp}.'.encode() + body).hex()}"
