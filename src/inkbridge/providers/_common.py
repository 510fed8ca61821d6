"""Small helpers the vendor webhook adapters share: reading JSON bodies, reading vendor times,
building bounded dedup keys, comparing secrets in constant time (``SecretsAdapter``) and picking
inkbridge's ids out of a vendor's metadata slot.

Nothing here knows a vendor; each adapter module owns its own format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from inkbridge import untrusted_json
from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload
from inkbridge.providers.base import WebhookAdapter

# The receipts table's dedup_key width (see api.webhooks.MAX_DEDUP_KEY_LENGTH).
MAX_DEDUP_KEY_LENGTH = 500

# The ids inkbridge writes into a provider's custom-field slot and expects echoed back.
META_ENVELOPE = "inkbridge_envelope_id"
META_LEAD = "inkbridge_lead_id"
META_CORRELATION = "inkbridge_correlation_id"
INKBRIDGE_METADATA_KEYS: tuple[str, ...] = (META_ENVELOPE, META_LEAD, META_CORRELATION)


def load_json(body: bytes | str, *, strict: bool = True) -> Any:
    """The decoded JSON body; ``MalformedPayload`` (without quoting the body) when unreadable.

    Strict (see inkbridge.untrusted_json): duplicate keys, invalid UTF-8, lone surrogates, NaN,
    NUL and deep nesting are refused, so the hot path answers 400 before anything is stored.
    """
    try:
        return untrusted_json.loads(body, strict=strict)
    except untrusted_json.UnreadableJson as exc:
        raise MalformedPayload(exc.reason) from None


def load_json_object(body: bytes | str, *, strict: bool = True) -> dict[str, Any]:
    value = load_json(body, strict=strict)
    if not isinstance(value, dict):
        raise MalformedPayload("body must be a JSON object")
    return value


def object_at(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``container[key]`` when it is an object, else an empty dict (absent or null)."""
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def text_or_none(value: Any) -> str | None:
    """A scalar id or address as text; ``None`` for missing, empty or structured values."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value).strip()
        return text or None
    return None


def parse_time(value: Any, field: str, default: datetime | None = None) -> datetime:
    """A vendor time as an aware UTC datetime: ISO-8601 text or unix seconds (number or digits).

    ``default`` (the receipt's arrival time) stands in when the vendor left the time out; a time
    that is present but unreadable is always ``MalformedPayload``.
    """
    if (value is None or value == "") and default is not None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise MalformedPayload(f"{field} is not an ISO-8601 time") from None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise MalformedPayload(f"{field} is missing or not a time")


def bounded_key(key: str) -> str:
    """``key`` as it is when it fits the dedup column, else a sha256 of it (still stable)."""
    if len(key) <= MAX_DEDUP_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def composite_key(parts: Sequence[Any]) -> str:
    """A dedup key from several fields: a JSON list, so no separator can make two keys collide."""
    return bounded_key(json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False))


def any_secret_matches(
    secrets: Iterable[SecretStr],
    expected_for: Callable[[str], bytes],
    offered: Sequence[bytes],
) -> bool:
    """Whether any offered value equals ``expected_for(secret)`` for any configured secret.

    Every pair is compared with ``hmac.compare_digest`` and the loop never stops early, so the
    time taken does not tell which secret or which offered value came close.
    """
    matched = False
    for secret in secrets:
        expected = expected_for(secret.get_secret_value())
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def hmac_sha256(key: str, message: bytes) -> bytes:
    """HMAC-SHA256 with a text key taken as UTF-8 (how every vendor here documents it)."""
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


class SecretsAdapter(WebhookAdapter):
    """A vendor adapter verified with its connection's secrets: every configured one is accepted
    (several while one is being rotated)."""

    def __init__(self, secrets: Sequence[SecretStr]) -> None:
        self._secrets = list(secrets)

    def hex_hmac_matches(self, message: bytes, offered: str) -> bool:
        """Whether ``offered`` is the hex HMAC-SHA256 of ``message`` under any of the secrets
        (in either case; see ``any_secret_matches``)."""

        def expected(key: str) -> bytes:
            return hmac_sha256(key, message).hex().encode()

        return any_secret_matches(self._secrets, expected, [offered.lower().encode()])


def inkbridge_metadata(pairs: Mapping[str, Any]) -> dict[str, str]:
    """inkbridge's own ids from a vendor's metadata mapping; other keys are not carried along."""
    found: dict[str, str] = {}
    for key in INKBRIDGE_METADATA_KEYS:
        value = text_or_none(pairs.get(key))
        if value is not None:
            found[key] = value
    return found


@dataclass(frozen=True)
class ReportEvents:
    """Builds the events of one envelope's status report (what a client's ``fetch_status``
    returns): each carries the envelope's metadata and, when it is about a recipient, that
    recipient's id and email, read under the vendor's own keys."""

    provider: str
    provider_envelope_id: str
    metadata: Mapping[str, str]
    id_key: str = "id"
    email_key: str = "email"

    def __call__(
        self,
        kind: EventType,
        when: datetime,
        vendor_event: str,
        recipient: Mapping[str, Any] | None = None,
    ) -> NormalizedEvent:
        return NormalizedEvent(
            type=kind,
            provider=self.provider,
            provider_envelope_id=self.provider_envelope_id,
            occurred_at=when,
            recipient_id=text_or_none(recipient.get(self.id_key)) if recipient else None,
            recipient_email=text_or_none(recipient.get(self.email_key)) if recipient else None,
            vendor_event=vendor_event,
            metadata=dict(self.metadata),
        )
