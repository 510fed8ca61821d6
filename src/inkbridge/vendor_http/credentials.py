"""A vendor's answer to "are these credentials good?": one harmless authenticated call (an
account or user-info read), classified as accepted, refused or not reached, with the vendor's
``Date`` header so that ``inkbridge doctor`` can compare clocks.

Providers' clients and connectors that have such a call implement ``ChecksCredentials``; the
others are reported as not checked, never as passing. A part with no API credentials at all (a
connection that only receives webhooks) has nothing to check: not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.responses import body_error_code, send


class Verdict(StrEnum):
    ACCEPTED = "accepted"  # the vendor answered the authenticated call with a 2xx
    REFUSED = "refused"  # 401 or 403: the credentials are wrong, revoked or lack a scope
    FAILED = "failed"  # unreachable, or another answer: the credentials are unknown
    NOT_CHECKED = "not checked"  # no harmless authenticated call exists for this vendor
    NOT_APPLICABLE = "not applicable"  # no API credentials to check (webhooks only)


@dataclass(frozen=True)
class CredentialCheck:
    verdict: Verdict
    detail: str  # the call made and the status or short code; never a token or a body
    server_date: datetime | None = None  # the vendor's Date header, for the clock check
    # This machine's clock when that answer arrived: the Date is compared with it, not with the
    # end of a run that may have waited on slower vendors since.
    received_at: datetime | None = None


def not_checked(reason: str) -> CredentialCheck:
    return CredentialCheck(Verdict.NOT_CHECKED, reason)


def not_applicable(reason: str) -> CredentialCheck:
    return CredentialCheck(Verdict.NOT_APPLICABLE, reason)


@runtime_checkable
class ChecksCredentials(Protocol):
    async def check_credentials(self) -> CredentialCheck: ...


def server_date(response: httpx.Response) -> datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


async def authenticated_get(
    client: httpx.AsyncClient,
    vendor: str,
    url: str,
    *,
    what: str | None = None,
    auth: httpx.Auth | None = None,
    timeout: float = 10.0,
    code_keys: tuple[str, ...] = (),
    **kwargs: Any,
) -> CredentialCheck:
    """``GET url`` with the vendor's auth; ``what`` names the call in the detail (by default
    ``GET`` and the URL's path: never its query, which may carry a key); ``code_keys`` name
    the body fields of the vendor's short error code (see ``body_error_code``)."""
    what = what or f"GET {urlsplit(url).path}"
    try:
        response = await send(client, vendor, "GET", url, auth=auth, timeout=timeout, **kwargs)
    except (RetryableError, PermanentError) as exc:
        # A token exchange refused (PermanentError) means the grant's credentials are wrong.
        if isinstance(exc, PermanentError):
            return CredentialCheck(Verdict.REFUSED, f"{what}: credentials refused, {exc}")
        return CredentialCheck(Verdict.FAILED, f"{what}: {exc}")
    received = datetime.now(UTC)
    status = response.status_code
    date = server_date(response)
    if 200 <= status < 300:
        return CredentialCheck(Verdict.ACCEPTED, f"{what}: {status}", date, received)
    code = body_error_code(response, *code_keys)
    shown = f"{status} ({code})" if code else str(status)
    if status in (401, 403):
        detail = f"{what}: credentials refused, {shown}"
        return CredentialCheck(Verdict.REFUSED, detail, date, received)
    return CredentialCheck(Verdict.FAILED, f"{what}: {vendor} answered {shown}", date, received)
