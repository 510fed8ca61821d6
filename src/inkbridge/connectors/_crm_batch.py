"""What the HubSpot, Salesforce and Dynamics connectors share: what they are built from
(``CrmConnector``), per-change outcomes of one batch, records merged from several changes, and
the per-object field mapping.

A CRM batch takes several vendor calls (read, upsert people, upsert envelopes, consent, tasks).
``Outcomes`` keeps the first failure of each change: later steps skip records whose changes all
failed, and a change is reported ok only when no step failed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Required, TypedDict, TypeVar

import httpx

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Change, ChangeResult, checked_batch
from inkbridge.connectors.fields import is_first_touch
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.vendor_http.responses import is_retryable_status, retry_after

T = TypeVar("T")
AuthT = TypeVar("AuthT")
OptionsT = TypeVar("OptionsT")


class CrmParts(TypedDict, Generic[AuthT, OptionsT], total=False):
    """What every CRM connector is built from besides its vendor's URL."""

    name: Required[str]
    client: Required[httpx.AsyncClient]
    auth: Required[AuthT]
    options: OptionsT | None
    field_overrides: Mapping[str, str] | None
    max_batch: int
    timeout: float


def crm_parts(
    name: str,
    dest: DestinationSettings,
    client: httpx.AsyncClient,
    auth: AuthT,
    options: OptionsT,
    vendor_max_batch: int,
) -> CrmParts[AuthT, OptionsT]:
    """A CRM connector's parts from its ``[destinations.NAME]`` settings: the field overrides,
    the timeout, and the batch size brought within what the vendor takes."""
    return {
        "name": name,
        "client": client,
        "auth": auth,
        "options": options,
        "field_overrides": dest.fields,
        "max_batch": max(1, min(dest.batch_size, vendor_max_batch)),
        "timeout": dest.timeout_seconds,
    }


class CrmConnector(Generic[AuthT, OptionsT]):
    """The parts a CRM connector holds: its name and batch size (at most ``vendor_max_batch``,
    ``default_batch`` unless given), the shared HTTP client, the vendor's auth, the request
    timeout, its options and the field overrides its planner maps fields with."""

    vendor_max_batch: ClassVar[int]
    default_batch: ClassVar[int]

    def __init__(self, parts: CrmParts[AuthT, OptionsT], default_options: OptionsT) -> None:
        self.name = parts["name"]
        max_batch = parts.get("max_batch", self.default_batch)
        self.max_batch = checked_batch(self.name, max_batch, self.vendor_max_batch)
        self._client = parts["client"]
        self._auth = parts["auth"]
        self._options = parts.get("options") or default_options
        self._field_overrides = parts.get("field_overrides") or {}
        self._timeout = parts.get("timeout", 10.0)


class StepRejected(PermanentError):
    """A 4xx other than auth or quota: fails the changes of one step, not the whole batch."""


def step_refusal(reason: str, response: httpx.Response) -> RetryableError | PermanentError:
    """What a non-2xx answer to one step of a batch means: retryable (with the vendor's wait),
    the whole batch refused (401/403: the credentials), or only this step's changes failed."""
    if is_retryable_status(response.status_code):
        return RetryableError(reason, retry_after=retry_after(response))
    if response.status_code in (401, 403):
        return PermanentError(reason)
    return StepRejected(reason)


@dataclass
class Outcomes:
    """Per-change results of one ``apply``, and the number of vendor requests it made."""

    errors: dict[int, ChangeResult] = field(default_factory=dict)
    requests: int = 0

    def fail(self, outbox_ids: Iterable[int], reason: str, retryable: bool = False) -> None:
        """Record a failure; a change keeps the first reason it failed for."""
        for outbox_id in outbox_ids:
            self.errors.setdefault(outbox_id, ChangeResult(outbox_id, False, retryable, reason))

    def live(self, outbox_ids: Iterable[int]) -> bool:
        """Whether any of these changes is still worth writing for."""
        return any(i not in self.errors for i in outbox_ids)

    def results(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return [self.errors.get(c.outbox_id) or ChangeResult(c.outbox_id, True) for c in changes]


@dataclass
class MergedRecord:
    """One vendor record to upsert, merged from every change in the batch that touches it
    (later changes win); ``parent`` is the lead it hangs from, ``contact`` its contact key."""

    key: str
    fields: dict[str, Any] = field(default_factory=dict)
    outbox_ids: list[int] = field(default_factory=list)
    parent: str = ""
    contact: str | None = None


def merge(
    records: dict[str, MergedRecord],
    key: str,
    fields: Mapping[str, Any],
    change: Change,
    parent: str = "",
) -> MergedRecord:
    record = records.setdefault(key, MergedRecord(key, parent=parent))
    record.fields.update(fields)
    record.outbox_ids.append(change.outbox_id)
    return record


def object_fields(
    defaults: Mapping[str, str], overrides: Mapping[str, str], scope: str
) -> dict[str, str]:
    """One vendor object's canonical-to-field mapping: its defaults, overlaid by the config
    overrides that rename a field it already maps, or that name it (``"envelope.first_touch_at"``
    adds first touch to the envelope record). A field mapped to "" is not written."""
    mapping = dict(defaults)
    for name, target in overrides.items():
        prefix, dot, canonical = name.partition(".")
        if dot and prefix == scope:
            mapping[canonical] = target
        elif not dot and name in defaults:
            mapping[name] = target
    return mapping


def first_touch_targets(mapping: Mapping[str, str]) -> set[str]:
    """The vendor fields a mapping writes first touch into (written only when empty)."""
    return {target for name, target in mapping.items() if target and is_first_touch(name)}


def task_key(change: Change, outcomes: Outcomes) -> str | None:
    """The inkbridge key of the change's task; None, the change failed, when it has none."""
    key = change.record.task.key
    if not key:
        outcomes.fail([change.outbox_id], "task without a key")
    return key or None


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def json_body(response: httpx.Response) -> Any:
    """The JSON body, or None when there is none (an HTML error page from a proxy)."""
    try:
        return response.json()
    except ValueError:
        return None


def short_code(value: Any) -> str | None:
    """A vendor's short error code; never its free-text message, which may quote our data."""
    return value if isinstance(value, str) and 0 < len(value) <= 60 else None


def str_map(destination: str, options: Mapping[str, Any], key: str) -> dict[str, str]:
    """``options.<key>`` as a name -> id table (ids given as strings or numbers)."""
    value = options.get(key, {})
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()
    ):
        raise ConfigError(f"destination {destination!r}: options.{key} must map names to ids")
    return {str(k): str(v) for k, v in value.items()}
