"""Consent as a ledger of typed records; current status per kind is a projection of it."""

from __future__ import annotations

import ipaddress
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
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6 (an IPv4-mapped IPv6
    address counts as IPv4). Anything that is not an address gives None."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
