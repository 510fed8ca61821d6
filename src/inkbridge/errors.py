"""The error hierarchy: one root, and errors that carry fields rather than formatted strings."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


class InkbridgeError(Exception):
    """Root of every error inkbridge raises on purpose.

    An error that carries fields names its text once, as ``message``: a format string over its
    own fields (``"{kind} {identifier!r} not found"``), so callers read the fields and logs read
    the text without each error writing its own ``__str__``."""

    message: ClassVar[str | None] = None

    def __str__(self) -> str:
        if self.message is None:
            return super().__str__()
        return self.message.format_map(vars(self))


@dataclass
class NotFound(InkbridgeError):
    """A resource named by the caller does not exist (in any region the caller may see)."""

    kind: str
    identifier: str

    message = "{kind} {identifier!r} not found"


@dataclass
class InvalidInput(InkbridgeError):
    """The caller sent something that cannot be accepted as it is."""

    detail: str
    field: str | None = None

    def __str__(self) -> str:
        return self.detail if self.field is None else f"{self.field}: {self.detail}"


@dataclass
class StateConflict(InkbridgeError):
    """The resource is in a state that does not allow the request (a finished envelope, a
    recipient who already signed)."""

    kind: str
    identifier: str
    state: str

    message = "{kind} {identifier!r} is {state}"


@dataclass
class SignerMismatch(InkbridgeError):
    """The person the caller vouches for is not the recipient the envelope names. Carries no
    address: neither the stored one nor the one sent may be echoed."""

    envelope_id: str
    recipient_id: str

    message = "the signer does not match recipient {recipient_id!r} of envelope {envelope_id!r}"


@dataclass
class OutsideTestNamespace(InkbridgeError):
    """A go-live token asked to change a lead that is not one of the go-live test leads."""

    lead_id: str

    message = "lead {lead_id!r} is not in the go-live test namespace"


@dataclass
class NotFaultable(InkbridgeError):
    """A go-live token asked to make a destination fail that the deployment does not mark as
    one it may fault (``golive_may_fault``), or that this process cannot reach."""

    destination: str
    reason: str

    def __str__(self) -> str:
        return f"destination {self.destination!r} may not be faulted: {self.reason}"


@dataclass
class ResidencyViolation(InkbridgeError):
    """Personal data would cross from one region to another, which policy forbids."""

    record_region: str
    target: str

    message = "data of region {record_region!r} may not go to {target!r}"


@dataclass
class ConfigError(InkbridgeError):
    """The configuration is incomplete or contradicts itself."""

    detail: str

    message = "{detail}"


@dataclass
class DatabaseUnavailable(InkbridgeError):
    """A region's database cannot be opened: a bad path, an unreachable server, a refused
    login. The URL it carries has its password hidden."""

    region: str
    url: str
    reason: str

    message = "regions.{region}.database_url: cannot open {url}: {reason}"


@dataclass
class SignatureInvalid(InkbridgeError):
    """A webhook's signature did not verify; the request must not be trusted."""

    reason: str

    message = "{reason}"


@dataclass
class MalformedPayload(InkbridgeError):
    """A webhook passed verification but its body cannot be read."""

    reason: str

    message = "{reason}"


@dataclass
class DeliveryIgnored(InkbridgeError):
    """A verified delivery that carries nothing inkbridge acts on: it is kept as ``ignored``
    with ``detail`` (an unmapped event type, a missing envelope id); ``kind`` is the short,
    fixed name metrics count it under."""

    kind: str
    detail: str

    message = "{detail}"


@dataclass
class UnmigratedDatabase(InkbridgeError):
    """The database schema is behind the code; run `inkbridge migrate`."""

    region: str
    current: str | None
    head: str

    message = (
        "database of region {region!r} is at revision {current!r}, "
        "code needs {head!r}: run `inkbridge migrate`"
    )


class RetryableError(InkbridgeError):
    """A remote failure worth retrying later (timeout, 429, 5xx, lock contention)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentError(InkbridgeError):
    """A remote failure that will not heal by retrying (4xx validation, auth revoked)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class PublishableKeyRefused(InkbridgeError):
    """A public capture call carried no publishable key, or one that is unknown or revoked."""

    reason: str

    message = "{reason}"


@dataclass
class OriginNotAllowed(InkbridgeError):
    """A public capture call came from an origin its publishable key does not allow (or from
    none). The origin itself is not repeated: it is caller-controlled text."""

    message = "the request's Origin is not on this key's allow-list"


@dataclass
class RateLimited(InkbridgeError):
    """A caller spent its request budget; it may try again after ``retry_after`` seconds."""

    limit: str  # what ran out: "ip" or "key"
    retry_after: int

    message = "too many requests for this {limit}; retry after {retry_after} s"


@dataclass
class BackupRefused(InkbridgeError):
    """A backup or restore of a region that would put its data where it does not belong (or
    read a file that is not that region's backup)."""

    region: str
    reason: str

    message = "backup of region {region!r} refused: {reason}"


def redacted_error(exc: BaseException) -> str:
    """A failure as it may be stored or logged: the exception's type and the line that raised
    it, with a fixed message. Never the exception's own message, which can quote the payload
    (a driver error quotes its parameters; a decode error quotes the offending text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    # The innermost line of ours, rather than one deep inside a driver.
    ours = [frame for frame in frames if f"{os.sep}inkbridge{os.sep}" in frame.filename]
    chosen = ours or frames
    where = f" at {Path(chosen[-1].filename).name}:{chosen[-1].lineno}" if chosen else ""
    return f"{type(exc).__name__}{where}: processing failed (details withheld)"
