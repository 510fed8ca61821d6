"""Builders the provider adapter tests share: inbound requests, fixtures and secrets; and the
check of one parsed event's identity."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.providers.base import InboundRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# A fixed arrival time: 2026-03-02T10:16:00Z, a few seconds after the fixtures' events.
NOW = datetime(2026, 3, 2, 10, 16, tzinfo=UTC)


def vendor_dir() -> Path:
    """The shared vendor folder (NOTES.md, vectors, vendor files) beside the repository.

    Looked up from each ancestor of this file, so a checkout moved elsewhere still finds it when
    it sits next to ``shared/``; tests that need it skip when it is nowhere to be found.
    """
    here = Path(__file__).resolve()
    for ancestor in here.parents:
        candidate = ancestor / "shared" / "vendor"
        if candidate.is_dir():
            return candidate
    return here.parents[3].parent / "shared" / "vendor"


def inbound(
    body: bytes,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    received_at: datetime = NOW,
) -> InboundRequest:
    """A request as the webhook endpoint builds it: lower-cased header names, raw body."""
    lowered = {"content-type": content_type}
    lowered.update({name.lower(): value for name, value in (headers or {}).items()})
    return InboundRequest(
        connection="test",
        method="POST",
        headers=lowered,
        query=query or {},
        body=body,
        received_at=received_at,
    )


def fixture(vendor: str, name: str) -> Any:
    """A fresh copy of a fixture document (tests may change it freely)."""
    return copy.deepcopy(json.loads((FIXTURES / vendor / name).read_text()))


def secrets(*values: str) -> list[SecretStr]:
    return [SecretStr(value) for value in values]


def dumps(document: Any) -> bytes:
    return json.dumps(document).encode()


def assert_parsed(
    event: NormalizedEvent, expected: EventType, provider: str, envelope: str, vendor_event: str
) -> None:
    """``event`` is an ``expected`` event of ``provider``'s envelope ``envelope``, keeping the
    vendor's own name for it."""
    assert event.type is expected
    assert event.provider == provider
    assert event.provider_envelope_id == envelope
    assert event.vendor_event == vendor_event
