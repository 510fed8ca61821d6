"""Consent as a ledger of typed records; current status per kind is a projection of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ConsentKind(StrEnum):
    CONTRACT_EXECUTION = "contract_execution"
    TERMS_OF_SERVICE = "terms_of_service"
    PRIVACY_NOTICE = "privacy_notice"
    MARKETING_EMAIL = "marketing_email"
    MARKETING_PHONE = "marketing_phone"
    PROFILING = "profiling"


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ConsentEntry:
    kind: ConsentKind
    status: ConsentStatus
    occurred_at: datetime


def current_status(entries: Iterable[ConsentEntry]) -> dict[str, str]:
    """The latest status per kind (by time; ledger order breaks ties)."""
    latest: dict[ConsentKind, tuple[datetime, int, ConsentStatus]] = {}
    for order, entry in enumerate(entries):
        seen = latest.get(entry.kind)
        if seen is None or (entry.occurred_at, order) >= seen[:2]:
            latest[entry.kind] = (entry.occurred_at, order, entry.status)
    return {kind.value: status.value for kind, (_, _, status) in latest.items()}


def minimise_ip(ip: str | None) -> str | None:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    if not ip:
        return None
    if ":" in ip:
        parts = ip.split(":")
        return ":".join(parts[:3]) + "::/48"
    octets = ip.split(".")
    if len(octets) != 4:
        return None
    return ".".join([*octets[:3], "0"]) + "/24"
