"""Reading a generic connection's payload into a normalized event: inkbridge's own format, or a
sender's vocabulary as its ``[connections.NAME.mapping]`` describes it. A delivery with nothing
inkbridge acts on raises ``DeliveryIgnored`` with its reason, so it is listed, not lost.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inkbridge.config_senders import SenderMapping
from inkbridge.domain.events import EventType, NormalizedEvent, event_type_named
from inkbridge.domain.json_paths import MISSING, parse_path, value_at
from inkbridge.errors import DeliveryIgnored, MalformedPayload
from inkbridge.providers._common import parse_time, text_or_none

# How much of a sender's event name a reason quotes (the column and the log stay bounded).
MAX_QUOTED = 80

Steps = tuple[str, ...]


def _quoted(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "…")


@dataclass(frozen=True)
class PayloadReader:
    """One connection's reading of payloads: event names to types and each field's path."""

    events: Mapping[str, EventType]
    type_path: str
    envelope_path: str
    time_path: str | None
    recipient_id_path: str | None = None
    recipient_email_path: str | None = None
    metadata_path: str | None = None
    event_id_path: str | None = None

    @classmethod
    def native(cls) -> PayloadReader:
        """inkbridge's own format: ``{"type", "timestamp", "data": {"envelope_id", …}}``."""
        return cls(
            events={t.value: t for t in EventType},
            type_path="type",
            envelope_path="data.envelope_id",
            time_path="data.occurred_at",
            recipient_id_path="data.recipient_id",
            recipient_email_path="data.recipient_email",
            metadata_path="data.metadata",
        )

    @classmethod
    def mapped(cls, mapping: SenderMapping) -> PayloadReader:
        events = {name: event_type_named(target) for name, target in mapping.events.items()}
        return cls(
            events={name: kind for name, kind in events.items() if kind is not None},
            type_path=mapping.type,
            envelope_path=mapping.envelope_id,
            time_path=mapping.occurred_at,
            recipient_id_path=mapping.recipient_id,
            recipient_email_path=mapping.recipient_email,
            metadata_path=mapping.metadata,
            event_id_path=mapping.event_id,
        )

    def event_id(self, payload: dict[str, Any]) -> str | None:
        if self.event_id_path is None:
            return None
        return text_or_none(_at(payload, self.event_id_path))

    def read(
        self, payload: dict[str, Any], provider: str, received_at: datetime
    ) -> NormalizedEvent:
        """The event ``payload`` reports; ``DeliveryIgnored`` when there is none to apply."""
        name = _at(payload, self.type_path)
        if not isinstance(name, str) or not name:
            raise DeliveryIgnored("no_event_type", f"no event type at {self.type_path}")
        event_type = self.events.get(name)
        if event_type is None:
            raise DeliveryIgnored("unmapped_event", f"unmapped event type {_quoted(name)}")
        envelope_ref = text_or_none(_at(payload, self.envelope_path))
        if envelope_ref is None:
            raise DeliveryIgnored(
                "no_envelope_id", f"{_quoted(name)} has no envelope id at {self.envelope_path}"
            )
        if self.time_path is None:
            occurred_at = received_at
        else:
            raw_time = _at(payload, self.time_path)
            occurred_at = parse_time(None if raw_time is MISSING else raw_time, self.time_path)
        return NormalizedEvent(
            type=event_type,
            provider=provider,
            provider_envelope_id=envelope_ref,
            occurred_at=occurred_at,
            recipient_id=self._text(payload, self.recipient_id_path),
            recipient_email=self._text(payload, self.recipient_email_path),
            vendor_event=name,
            metadata=self._metadata(payload),
        )

    @staticmethod
    def _text(payload: dict[str, Any], path: str | None) -> str | None:
        return None if path is None else text_or_none(_at(payload, path))

    def _metadata(self, payload: dict[str, Any]) -> dict[str, str]:
        if self.metadata_path is None:
            return {}
        found = _at(payload, self.metadata_path)
        if found is MISSING or found is None:
            return {}
        if not isinstance(found, dict):
            raise MalformedPayload(f"{self.metadata_path} must be an object")
        return {str(k): str(v) for k, v in found.items() if v is not None}


def _at(payload: dict[str, Any], path: str) -> Any:
    return value_at(payload, _steps(path))


@functools.cache
def _steps(path: str) -> Steps:
    # Paths come from the configuration (checked when it was read): parsed once each.
    return parse_path(path)
