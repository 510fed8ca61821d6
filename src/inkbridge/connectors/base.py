"""The shape every destination connector has: apply a batch of outbox changes.

A connector turns vendor failures into ``RetryableError`` (timeouts, 429, 5xx; carrying
``retry_after`` when the vendor says) or ``PermanentError`` at its boundary, and reports a
per-change result so one bad record does not hold back a whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from inkbridge.connectors.outbound import OutboundRecord
from inkbridge.errors import ConfigError
from inkbridge.vendor_http.credentials import ChecksCredentials, CredentialCheck, not_checked


@dataclass(frozen=True)
class Change:
    """One outbox row as a connector sees it.

    ``record_key`` names the destination record (``envelope:env_…``); ``fact_keys`` lists every
    business fact this change carries (several when pending changes were coalesced).
    """

    outbox_id: int
    record_key: str
    kind: str
    idempotency_key: str
    payload: Mapping[str, Any]
    correlation_id: str | None
    fact_keys: tuple[str, ...] = ()
    # True when an earlier attempt may have reached the destination (timeout, crash mid-send):
    # connectors that can read back check the destination before writing again.
    uncertain: bool = False

    @cached_property
    def record(self) -> OutboundRecord:
        """The payload as a typed record, read once (the stored JSON keeps its format)."""
        return OutboundRecord.from_payload(self.payload)


@dataclass(frozen=True)
class ChangeResult:
    outbox_id: int
    ok: bool
    retryable: bool = False
    error: str | None = None


@dataclass(frozen=True)
class BatchResult:
    results: Sequence[ChangeResult]
    retry_after: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    """One destination. ``apply`` may raise RetryableError/PermanentError for the whole batch."""

    name: str
    max_batch: int

    async def apply(self, changes: Sequence[Change]) -> BatchResult: ...


class ConnectorWrapper:
    """What a connector around a vendor's connector shares (erasures, a sandbox twin): the
    vendor connector's name, batch size and credential check."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.name = connector.name
        self.max_batch = connector.max_batch

    async def check_credentials(self) -> CredentialCheck:
        if isinstance(self.connector, ChecksCredentials):
            return await self.connector.check_credentials()
        return not_checked("no harmless authenticated call for this destination")


def checked_batch(name: str, max_batch: int, vendor_max: int) -> int:
    """``max_batch`` when the vendor takes that many changes in one call, else a ConfigError."""
    if not 1 <= max_batch <= vendor_max:
        raise ConfigError(f"destination {name!r}: max_batch must be 1..{vendor_max}")
    return max_batch
