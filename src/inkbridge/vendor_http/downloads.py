"""Streaming a signed PDF from a vendor's API, chunk by chunk, never the whole file in memory.

Every provider client's ``download_document`` goes through ``stream_pdf``: a non-2xx answer is
classified like every other vendor answer (``responses.raise_for_status``), a transport failure
is retryable, the first bytes must be a PDF's (``%PDF-``) whatever content type the vendor
claims, and a document over ``max_bytes`` is refused: before the first byte when the vendor
announces its length, otherwise as soon as the count passes the cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.responses import (
    body_error_code,
    raise_for_status,
    transport_failure,
    wait_hint,
)

PDF_MAGIC = b"%PDF-"
# Signed contracts are a few hundred kilobytes; a vendor answering far more is answering
# something else (or a combined bundle nobody asked for).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# How much of an error answer is read to find the vendor's short error code.
_MAX_ERROR_BODY = 64 * 1024


class DocumentTooLarge(PermanentError):
    """The vendor's document passes the size inkbridge streams."""


async def _error_answer(
    vendor: str,
    response: httpx.Response,
    code_keys: tuple[str, ...],
    retryable_codes: frozenset[str],
    retryable_statuses: frozenset[int],
) -> None:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _MAX_ERROR_BODY:
            break
    bounded = httpx.Response(response.status_code, headers=response.headers, content=bytes(body))
    if response.status_code in retryable_statuses:
        reason = f"{vendor} answered {response.status_code} (document not ready)"
        raise RetryableError(reason, retry_after=wait_hint(bounded))
    code = body_error_code(bounded, *code_keys)
    raise_for_status(vendor, bounded, code, retryable_codes=retryable_codes)


def _announced_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def stream_pdf(
    client: httpx.AsyncClient,
    vendor: str,
    url: str,
    *,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    code_keys: tuple[str, ...] = (),
    retryable_codes: frozenset[str] = frozenset(),
    retryable_statuses: frozenset[int] = frozenset(),
    **kwargs: Any,
) -> AsyncIterator[bytes]:
    """The PDF at ``url`` (a GET through ``client``; ``kwargs`` go to the request: headers,
    params, auth, follow_redirects), as chunks. Raises ``RetryableError``/``PermanentError`` as
    ``raise_for_status`` does (``retryable_statuses``: answers that mean "not ready yet"),
    ``DocumentTooLarge``, or ``PermanentError`` for a non-PDF."""
    try:
        async with client.stream("GET", url, **kwargs) as response:
            if not 200 <= response.status_code < 300:
                await _error_answer(
                    vendor, response, code_keys, retryable_codes, retryable_statuses
                )
            announced = _announced_length(response)
            if announced is not None and announced > max_bytes:
                raise DocumentTooLarge(f"{vendor} document is {announced} bytes, over {max_bytes}")
            pending = b""  # the first bytes, held until they show a PDF's signature
            verified = False
            seen = 0
            async for chunk in response.aiter_bytes():
                seen += len(chunk)
                if seen > max_bytes:
                    raise DocumentTooLarge(f"{vendor} document passed {max_bytes} bytes")
                if not verified:
                    pending += chunk
                    if len(pending) < len(PDF_MAGIC):
                        continue
                    if not pending.startswith(PDF_MAGIC):
                        raise PermanentError(f"{vendor} answered something other than a PDF")
                    verified, chunk, pending = True, pending, b""
                if chunk:
                    yield chunk
            if not verified:
                raise PermanentError(f"{vendor} answered something other than a PDF")
    except httpx.HTTPError as exc:
        raise transport_failure(vendor, exc) from exc
