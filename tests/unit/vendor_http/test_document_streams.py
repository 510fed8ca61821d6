"""``stream_pdf`` at the HTTP seam (``httpx.MockTransport``): chunks pass through as they come,
failures are classified like every vendor answer, a non-PDF and an oversized document are
refused; and the sandbox's signed PDF is a well-formed file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from inkbridge.errors import PermanentError, RetryableError
from inkbridge.sandbox.signed_pdf import signed_pdf
from inkbridge.vendor_http.downloads import DocumentTooLarge, stream_pdf

PDF = signed_pdf("env-unit", "Unit NDA")


class _Chunked(httpx.AsyncByteStream):
    """A body sent in pieces, with no Content-Length; counts how many pieces were read."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            self.read += 1
            yield piece


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def _collect(client: httpx.AsyncClient, **options: object) -> list[bytes]:
    return [c async for c in stream_pdf(client, "acme", "https://acme.test/doc", **options)]


async def test_the_pdf_arrives_in_the_chunks_the_vendor_sent() -> None:
    pieces = [PDF[:3], PDF[3:200], PDF[200:]]
    async with _client(lambda _: httpx.Response(200, stream=_Chunked(pieces))) as client:
        chunks = await _collect(client)

    assert b"".join(chunks) == PDF
    assert len(chunks) == 2  # the first two pieces held until "%PDF-" could be checked


async def test_an_announced_length_over_the_cap_is_refused_before_any_byte() -> None:
    stream = _Chunked([PDF])
    headers = {"content-length": str(len(PDF))}
    async with _client(lambda _: httpx.Response(200, headers=headers, stream=stream)) as client:
        with pytest.raises(DocumentTooLarge):
            await _collect(client, max_bytes=len(PDF) - 1)

    assert stream.read == 0


async def test_an_unannounced_document_is_cut_as_soon_as_it_passes_the_cap() -> None:
    stream = _Chunked([PDF[:100], PDF[100:200], PDF[200:300], PDF[300:]])
    received: list[bytes] = []
    async with _client(lambda _: httpx.Response(200, stream=stream)) as client:
        with pytest.raises(DocumentTooLarge):
            async for chunk in stream_pdf(client, "acme", "https://a.test/d", max_bytes=250):
                received.append(chunk)

    assert b"".join(received) == PDF[:200]
    assert stream.read == 3


@pytest.mark.parametrize("body", [b"<html>login</html>", b"%PD", b""])
async def test_anything_but_a_pdf_is_refused(body: bytes) -> None:
    answer = httpx.Response(200, content=body, headers={"content-type": "application/pdf"})
    async with _client(lambda _: answer) as client:
        with pytest.raises(PermanentError, match="something other than a PDF"):
            await _collect(client)


async def test_a_vendor_error_names_its_status_and_short_code_only() -> None:
    body = {"errorCode": "ENVELOPE_DOES_NOT_EXIST", "message": "ada@example.test has no such"}
    async with _client(lambda _: httpx.Response(404, json=body)) as client:
        with pytest.raises(PermanentError) as refused:
            await _collect(client, code_keys=("errorCode",))

    assert refused.value.reason == "acme answered 404 (ENVELOPE_DOES_NOT_EXIST)"


async def test_a_busy_vendor_and_a_document_not_ready_are_retryable_with_the_wait() -> None:
    busy = httpx.Response(503, headers={"retry-after": "7"})
    preparing = httpx.Response(409, headers={"retry-after": "3"}, json={"error": {"x": 1}})
    async with _client(lambda _: busy) as client:
        with pytest.raises(RetryableError) as waited:
            await _collect(client)
    async with _client(lambda _: preparing) as client:
        with pytest.raises(RetryableError) as not_ready:
            await _collect(client, retryable_statuses=frozenset({409}))
        with pytest.raises(PermanentError):
            await _collect(client)  # a 409 is final unless the vendor says it means "later"

    assert waited.value.retry_after == 7.0
    assert not_ready.value.retry_after == 3.0


async def test_a_broken_connection_is_retryable() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(unreachable) as client:
        with pytest.raises(RetryableError, match="acme unreachable: ConnectError"):
            await _collect(client)


def test_the_signed_pdf_has_a_cross_reference_table_that_points_at_its_objects() -> None:
    pdf = signed_pdf("env-(1)\\", "Título: NDA")

    startxref = int(re.findall(rb"startxref\n(\d+)\n%%EOF\n$", pdf)[0])
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    offsets = [int(n) for n in re.findall(rb"(\d{10}) 00000 n ", pdf)]
    assert [pdf[o : o + 8] for o in offsets] == [b"%d 0 obj\n" % n for n in range(1, 6)]
    length = int(re.findall(rb"/Length (\d+)", pdf)[0])
    stream = pdf.split(b"stream\n", 1)[1].split(b"\nendstream", 1)[0]
    assert len(stream) == length
    assert b"(Envelope: env-\\(1\\)\\\\)" in pdf  # delimiters escaped
    assert b"T?tulo" in pdf  # only printable ASCII in the page text
    assert pdf == signed_pdf("env-(1)\\", "Título: NDA")
