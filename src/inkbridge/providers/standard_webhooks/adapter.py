"""The generic connection's inbound adapter: a sender verified by Standard Webhooks (or, when
its ``signature`` table says so, a plain HMAC-SHA256 body header), whose payload is inkbridge's
own format (``schema.NATIVE_SCHEMA``) or the sender's vocabulary read through its ``mapping``.
Signing and verification live in ``inkbridge.vendor_http.signing`` and are re-exported here for
existing importers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import SecretStr

from inkbridge.config_senders import SenderMapping, SignatureScheme
from inkbridge.domain.events import NormalizedEvent
from inkbridge.errors import MalformedPayload
from inkbridge.providers._common import bounded_key, load_json_object
from inkbridge.providers.base import Acknowledgement, InboundRequest, WebhookAdapter
from inkbridge.providers.standard_webhooks.reader import PayloadReader
from inkbridge.vendor_http.body_hmac import BodyHmacVerifier
from inkbridge.vendor_http.signing import (
    SECRET_PREFIX,
    secret_key,
    sign,
    signed_headers,
    usable_keys,
    verify,
    verify_with_keys,
)

__all__ = [
    "SECRET_PREFIX",
    "StandardWebhooksAdapter",
    "secret_key",
    "sign",
    "signed_headers",
    "usable_keys",
    "verify",
    "verify_with_keys",
]

STANDARD_HEADERS = frozenset({"webhook-signature", "authorization"})

# The same for every delivery, so built once (it is immutable).
_ACKNOWLEDGEMENT = Acknowledgement(status=200, body=b'{"ok":true}', media_type="application/json")


class StandardWebhooksAdapter(WebhookAdapter):
    """Inbound adapter for any sender: Standard Webhooks and inkbridge's event format by
    default; a configured mapping and signature scheme for a sender's own."""

    content_types = frozenset({"application/json"})

    def __init__(
        self,
        secrets: Sequence[SecretStr],
        tolerance_seconds: int = 300,
        provider: str = "sandbox",
        mapping: SenderMapping | None = None,
        signature: SignatureScheme | None = None,
    ) -> None:
        self.provider = provider
        # Decoded once: every delivery is checked against each key.
        self._keys = usable_keys(secrets)
        self._tolerance = tolerance_seconds
        self._native = mapping is None
        self._reader = PayloadReader.native() if mapping is None else PayloadReader.mapped(mapping)
        self._body_hmac: BodyHmacVerifier | None = None
        if signature is not None and signature.scheme == "hmac_sha256" and signature.header:
            self._body_hmac = BodyHmacVerifier(
                list(secrets), signature.header, signature.encoding, signature.prefix
            )
        self.secret_headers = STANDARD_HEADERS | (
            {self._body_hmac.header} if self._body_hmac else set()
        )

    def verify(self, request: InboundRequest) -> None:
        if self._body_hmac is not None:
            self._body_hmac.verify(request.headers, request.body)
            return
        verify_with_keys(
            self._keys, request.headers, request.body, request.received_at, self._tolerance
        )

    def dedup_key(self, request: InboundRequest) -> str:
        payload = load_json_object(request.body)
        if self._native:
            data = payload.get("data")
            if not isinstance(payload.get("type"), str) or not isinstance(data, dict):
                raise MalformedPayload("body must carry 'type' and a 'data' object")
        if self._body_hmac is None:
            msg_id = request.headers.get("webhook-id", "")
            if not msg_id or len(msg_id) > 200:
                raise MalformedPayload("webhook-id must be 1 to 200 characters")
            return msg_id
        # No message id in this scheme: the sender's event id, else the body's digest (a
        # redelivery is the same bytes).
        event_id = self._reader.event_id(payload)
        if event_id is not None:
            return bounded_key("event:" + event_id)
        return "sha256:" + hashlib.sha256(request.body).hexdigest()

    def acknowledge(self, request: InboundRequest) -> Acknowledgement:
        return _ACKNOWLEDGEMENT

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        payload = load_json_object(request.body)
        return [self._reader.read(payload, self.provider, request.received_at)]
