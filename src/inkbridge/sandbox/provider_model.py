"""The sandbox provider's vocabulary: envelope statuses and admin actions, the refusal it
answers with, a signer to add, and the signing session a single-use token opens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from inkbridge.domain.events import EventType
from inkbridge.errors import InkbridgeError

TERMINAL_STATUSES = frozenset({"completed", "declined", "voided", "expired"})

# Admin action -> (event it emits, envelope status it sets or None to leave the status alone).
ADMIN_ACTIONS: dict[str, tuple[EventType, str | None]] = {
    "void": (EventType.DOCUMENT_VOIDED, "voided"),
    "expire": (EventType.DOCUMENT_EXPIRED, "expired"),
    "bounce": (EventType.DOCUMENT_DELIVERY_FAILED, None),
    "remind": (EventType.REMINDER_SENT, None),
}


@dataclass
class SandboxRefusal(InkbridgeError):
    """The sandbox provider refuses a request, with the HTTP status a real vendor would use."""

    status: int
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class SignerInput:
    recipient_id: str
    email: str
    name: str


@dataclass(frozen=True)
class SigningSession:
    """What the signing page shows for one token."""

    token: str
    envelope_id: str
    title: str
    signer_name: str
    merge_fields: Mapping[str, str]
    return_url: str | None


OPEN_WITHIN = timedelta(minutes=5)
SESSION_LIFETIME = timedelta(minutes=30)


def cookie_binding(cookie_value: str) -> str:
    """The binding a signer cookie value stands for: its SHA-256, hex."""
    return hashlib.sha256(cookie_value.encode("utf-8")).hexdigest()
