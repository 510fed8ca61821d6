"""A generic connection's sender: the ``[connections.NAME.mapping]`` table (the sender's own
event names and where its payload keeps each field) and ``[connections.NAME.signature]`` (which
of the schemes inkbridge verifies the sender signs with).

Both are checked when the configuration is read: an event mapped to something that is not an
inkbridge event, or a path that names no place, is an error naming the key. Which provider may
carry them is checked where the connection's adapter is built (``providers.registry``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inkbridge.domain.events import SHORT_NAMES, EventType, event_type_named
from inkbridge.domain.json_paths import parse_path

KNOWN_EVENTS = ", ".join([*SHORT_NAMES, *(t.value for t in EventType)])
SIGNATURE_SCHEMES = ("standard_webhooks", "hmac_sha256")


class SenderMapping(BaseModel):
    """A sender's vocabulary: its event names → inkbridge's, and the path (dotted or JSON
    Pointer) of each field in its payload. Event names not listed are stored and ignored with
    their reason."""

    model_config = ConfigDict(extra="forbid")

    events: dict[str, str] = Field(min_length=1)  # the sender's name -> an inkbridge event
    type: str = "type"
    envelope_id: str = "data.envelope_id"
    occurred_at: str | None = None  # None: the time the delivery arrived
    recipient_id: str | None = None
    recipient_email: str | None = None
    metadata: str | None = None  # an object of text values (inkbridge's ids, echoed back)
    # The sender's event id, for deliveries that carry no Standard Webhooks webhook-id
    # (None: the body's digest deduplicates).
    event_id: str | None = None

    @field_validator("events")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, target in value.items():
            if event_type_named(target) is None:
                raise ValueError(
                    f"events.{name!r}: {target!r} is not an inkbridge event; known: {KNOWN_EVENTS}"
                )
        return value

    @model_validator(mode="after")
    def _paths_name_places(self) -> SenderMapping:
        for key, path in self.paths().items():
            if path is not None:
                try:
                    parse_path(path)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        return self

    def paths(self) -> dict[str, str | None]:
        return {
            "type": self.type,
            "envelope_id": self.envelope_id,
            "occurred_at": self.occurred_at,
            "recipient_id": self.recipient_id,
            "recipient_email": self.recipient_email,
            "metadata": self.metadata,
            "event_id": self.event_id,
        }


class SignatureScheme(BaseModel):
    """How the sender signs: Standard Webhooks (``webhook-id``/``-timestamp``/``-signature``,
    ``whsec_`` secrets), or ``hmac_sha256``: an HMAC-SHA256 of the raw body under the secret's
    UTF-8 bytes, in ``header``, as ``hex`` or ``base64``, after an optional ``prefix``
    (``sha256=``). The plain scheme signs no time: replays are stopped by deduplication only."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["standard_webhooks", "hmac_sha256"] = "standard_webhooks"
    header: str | None = None
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""

    @model_validator(mode="after")
    def _header_for_hmac(self) -> SignatureScheme:
        if self.scheme == "hmac_sha256" and not (self.header and self.header.strip()):
            raise ValueError("header: the hmac_sha256 scheme needs the header it is sent in")
        if self.header is not None:
            self.header = self.header.strip().lower()
        return self
