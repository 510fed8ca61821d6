"""Hostile webhooks (see ``support``): validly signed bodies mutated byte by byte (duplicate
keys, homoglyphs, nesting), requests wrong around the body (forged, unsigned, tampered,
retyped, oversized) and an oversized chunked body, against every provider kind."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.signers import PROVIDERS, Delivery, Provider

from .support import EU_KINDS, MAX_BODY, STRANGER, Stack, assert_refused_without_change, row_counts

HOMOGLYPHS = {"e": "\u0435", "a": "\u0430", "o": "\u043e", "p": "\u0440", "c": "\u0441"}


def with_member(text: bytes, member: bytes) -> bytes:
    """``member`` ("key": value) added first to the document's first object."""
    at = text.index(b"{") + 1
    return text[:at] + member + b"," + text[at:]


def duplicate_first_key(text: bytes) -> bytes:
    document = json.loads(text)
    first = document[0] if isinstance(document, list) else document
    key, value = next(iter(first.items()))
    return with_member(text, json.dumps(key).encode() + b":" + json.dumps(value).encode())


def duplicate_nested_key(text: bytes) -> bytes:
    at = text.rindex(b'{"') + 1
    return text[:at] + b'"twice":1,"twice":2,' + text[at:]


def homoglyph(text: bytes, key: str) -> bytes:
    letter = next(ch for ch in key if ch in HOMOGLYPHS)
    lookalike = key.replace(letter, HOMOGLYPHS[letter], 1)
    return text.replace(json.dumps(key).encode(), json.dumps(lookalike).encode(), 1)


def nested(depth: int) -> bytes:
    return b'"deep":' + b"[" * depth + b"]" * depth


def wrapped_the_other_way(text: bytes) -> bytes:
    """An object where an array is expected (PandaDoc) and an array elsewhere."""
    document = json.loads(text)
    flipped = document[0] if isinstance(document, list) else [document]
    return json.dumps(flipped).encode()


Mutation = Callable[[bytes], bytes]


@dataclass(frozen=True)
class WebhookCase:
    name: str
    mutate: Mutation
    status: int = 400
    # Dropbox Sign's signature is inside the JSON: a body the lenient reading cannot get the
    # signature from is a signature failure (401) before it can be a malformed body (400).
    unreadable_signature: bool = False

    def expected(self, provider: Provider) -> int:
        if self.unreadable_signature and provider.form_field is not None:
            return 401
        return self.status


def _member(raw: bytes) -> Mutation:
    return lambda text: with_member(text, b'"note":' + raw)


WEBHOOK_BODY_CASES: tuple[WebhookCase, ...] = (
    WebhookCase("duplicate top-level key", duplicate_first_key),
    WebhookCase("duplicate key in a nested object", duplicate_nested_key),
    WebhookCase("lone high surrogate escape", _member(rb'"\ud800"')),
    WebhookCase("lone low surrogate escape", _member(rb'"x\udfffy"')),
    WebhookCase("surrogate pair reversed", _member(rb'"\ude00\ud83d"')),
    WebhookCase("upper-case lone surrogate escape", _member(rb'"\uDBFF"')),
    WebhookCase("lone surrogate as a key", lambda t: with_member(t, b'"\\ud800":1')),
    WebhookCase("UTF-8 encoded surrogate", _member(b'"\xed\xa0\x80"')),
    WebhookCase("invalid UTF-8 byte", _member(b'"\xff"')),
    WebhookCase("overlong UTF-8 encoding", _member(b'"\xc0\xaf"')),
    WebhookCase("truncated UTF-8 sequence", _member(b'"\xe2\x82"')),
    WebhookCase("escaped NUL", _member(rb'"a\u0000b"')),
    WebhookCase("raw NUL in a string", _member(b'"a\x00b"'), unreadable_signature=True),
    WebhookCase("raw control character", _member(b'"a\x01b"'), unreadable_signature=True),
    WebhookCase("NaN", _member(b"NaN")),
    WebhookCase("Infinity", _member(b"Infinity")),
    WebhookCase("-Infinity", _member(b"-Infinity")),
    WebhookCase("float overflowing to infinity", _member(b"1e400")),
    WebhookCase("5000-digit integer", _member(b"9" * 5000), unreadable_signature=True),
    WebhookCase(
        "nests 100k deep", lambda t: with_member(t, nested(100_000)), unreadable_signature=True
    ),
    WebhookCase("nests 33 deep", lambda t: with_member(t, nested(33)), unreadable_signature=True),
    WebhookCase("truncated JSON", lambda t: t[: len(t) // 2], unreadable_signature=True),
    WebhookCase("empty body", lambda t: b"", unreadable_signature=True),
    WebhookCase("JSON null", lambda t: b"null", unreadable_signature=True),
    WebhookCase("a string instead of a document", lambda t: b'"event"', unreadable_signature=True),
    WebhookCase("array and object swapped", wrapped_the_other_way, unreadable_signature=True),
    WebhookCase("trailing garbage", lambda t: t + b"garbage", unreadable_signature=True),
    WebhookCase("two documents back to back", lambda t: t + t, unreadable_signature=True),
    WebhookCase("UTF-8 byte order mark", lambda t: b"\xef\xbb\xbf" + t, unreadable_signature=True),
    WebhookCase("UTF-16 encoded", lambda t: t.decode().encode("utf-16"), unreadable_signature=True),
    WebhookCase(
        "single-quoted strings", lambda t: t.replace(b'"', b"'"), unreadable_signature=True
    ),
    WebhookCase("comment in the JSON", lambda t: b"/* hi */" + t, unreadable_signature=True),
)


def _webhook_body_params() -> Iterator[Any]:
    for provider in PROVIDERS:
        for case in WEBHOOK_BODY_CASES:
            yield pytest.param(provider, case, id=f"{provider.kind}: {case.name}")
        if provider.required_key is not None:
            homoglyph_case = WebhookCase(
                f"homoglyph in '{provider.required_key}'",
                lambda t, key=provider.required_key: homoglyph(t, key),
                unreadable_signature=True,
            )
            yield pytest.param(provider, homoglyph_case, id=f"{provider.kind}: homoglyph key")


async def post_webhook(client: httpx.AsyncClient, kind: str, delivery: Delivery) -> httpx.Response:
    return await client.post(
        f"/v1/webhooks/{kind}",
        content=delivery.content,
        headers=delivery.headers,
        params=delivery.params,
    )


async def test_every_provider_accepts_its_valid_delivery(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    """The control: the unmutated documents the hostile cases start from are accepted."""
    for provider in PROVIDERS:
        before = row_counts(stack.container)
        response = await post_webhook(client, provider.kind, provider.deliver(provider.json_text()))
        assert response.status_code == 200, (provider.kind, response.text)
        region = "eu" if provider.kind in EU_KINDS else "default"
        after = row_counts(stack.container)
        assert after[f"{region}.webhook_receipts"] == before[f"{region}.webhook_receipts"] + 1


@pytest.mark.parametrize(("provider", "case"), list(_webhook_body_params()))
async def test_a_validly_signed_hostile_webhook_body_is_refused(
    stack: Stack, client: httpx.AsyncClient, provider: Provider, case: WebhookCase
) -> None:
    delivery = provider.deliver(case.mutate(provider.json_text()))
    await assert_refused_without_change(
        stack, lambda: post_webhook(client, provider.kind, delivery), case.expected(provider)
    )


# --- webhook requests that are wrong around the body -------------------------------------------


def _forged(provider: Provider) -> Delivery:
    if provider.form_field is None:
        return provider.deliver(provider.json_text(), secret=STRANGER)
    text = re.sub(
        rb'"event_hash": "[0-9a-f]+"', b'"event_hash": "' + b"0" * 64 + b'"', provider.json_text()
    )
    return provider.deliver(text)


def _unsigned(provider: Provider) -> Delivery:
    signed = provider.deliver(provider.json_text())
    if provider.form_field is not None:
        text = re.sub(rb'"event_hash": "[0-9a-f]+", ', b"", provider.json_text())
        return provider.deliver(text)
    return Delivery(signed.content, {"content-type": signed.headers["content-type"]})


def _tampered(provider: Provider) -> Delivery:
    signed = provider.deliver(provider.json_text())
    return Delivery(signed.content.replace(b":", b": ", 1), signed.headers, signed.params)


def _retyped(content_type: str | None) -> Callable[[Provider], Delivery]:
    def build(provider: Provider) -> Delivery:
        signed = provider.deliver(provider.json_text())
        headers = {k: v for k, v in signed.headers.items() if k != "content-type"}
        if content_type is not None:
            headers["content-type"] = content_type
        return Delivery(signed.content, headers, signed.params)

    return build


def _oversized(provider: Provider) -> Delivery:
    padding = b'"pad":"' + b"x" * MAX_BODY + b'"'
    return provider.deliver(with_member(provider.json_text(), padding))


# Providers whose signature does not cover the body (a static secret or client id, or a hash of
# two fields): a tampered body cannot be told from a genuine one, by design of the vendor.
BODY_NOT_SIGNED = frozenset({"dropbox_sign", "acrobat_sign", "documenso"})

REQUEST_CASES: tuple[tuple[str, Callable[[Provider], Delivery], int, frozenset[str]], ...] = (
    ("signed with another secret", _forged, 401, frozenset()),
    ("no signature", _unsigned, 401, frozenset()),
    ("body changed after signing", _tampered, 401, BODY_NOT_SIGNED),
    ("text/plain content type", _retyped("text/plain"), 415, frozenset()),
    ("no content type", _retyped(None), 415, frozenset()),
    ("XML content type", _retyped("application/xml"), 415, frozenset()),
    ("body over the size limit", _oversized, 413, frozenset()),
)


def _request_params() -> Iterator[Any]:
    for provider in PROVIDERS:
        for name, build, status, exempt in REQUEST_CASES:
            if provider.kind not in exempt:
                yield pytest.param(provider, build, status, id=f"{provider.kind}: {name}")


@pytest.mark.parametrize(("provider", "build", "status"), list(_request_params()))
async def test_a_webhook_request_wrong_around_its_body_is_refused(
    stack: Stack,
    client: httpx.AsyncClient,
    provider: Provider,
    build: Callable[[Provider], Delivery],
    status: int,
) -> None:
    delivery = build(provider)
    await assert_refused_without_change(
        stack, lambda: post_webhook(client, provider.kind, delivery), status
    )


async def test_an_oversized_chunked_webhook_is_refused(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    provider = PROVIDERS[0]
    delivery = _oversized(provider)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(delivery.content), 8192):
            yield delivery.content[start : start + 8192]

    async def send() -> httpx.Response:
        return await client.post(
            f"/v1/webhooks/{provider.kind}", content=chunks(), headers=delivery.headers
        )

    await assert_refused_without_change(stack, send, 413)
