"""The hostile-input corpus: bad input fails closed, never a 5xx, never a change.

Every case sends one hostile request to the whole application in-process (the webhook hot path
in front, `/v1` behind the body limits) and asserts its exact status, that the answer is a
problem document, and that the row count of every table in every region database is what it was.
Webhook cases run against every provider kind, validly signed (so the refusal is about the body)
unless the case is about the signature. Regions: ``default`` on SQLite and ``eu`` on PostgreSQL
(SQLite too when PostgreSQL is unreachable), with connections in both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.config import Settings
from inkbridge.services import publishable_keys
from inkbridge.services.tokens import create_token
from inkbridge.store.schema import metadata
from inkbridge.vendor_http.signing import signed_headers as standard_signed_headers
from tests.conftest import PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.signers import PROVIDERS, STANDARD_SECRET, Delivery, Provider

MAX_BODY = 1_048_576  # server.max_body_bytes (the default): webhooks, triggers
API_MAX_BODY = 65_536  # server.max_json_body_bytes: `/v1` JSON
HUBSPOT_SECRET = "hubspot-app-secret-hostile"
EU_KINDS = frozenset({"docusign", "pandadoc", "docuseal"})
PROBLEM = "application/problem+json"
STRANGER = "whsec_dGhpcyBpcyBub3Qgb3VyIHNlY3JldA=="  # a well-formed secret nobody configured


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    container: Container
    admin: dict[str, str]
    capture_key: str


def _settings(tmp: Path, eu_url: str) -> Settings:
    connections: dict[str, Any] = {}
    for provider in PROVIDERS:
        secret_file = tmp / f"{provider.kind}.secret"
        secret_file.write_text(provider.secret)
        connections[provider.kind] = {
            "provider": provider.kind,
            "region": "eu" if provider.kind in EU_KINDS else "default",
            "secrets": [f"file:{secret_file}"],
        }
    (tmp / "hubspot.secret").write_text(HUBSPOT_SECRET)
    (tmp / "crm.secret").write_text(STANDARD_SECRET)
    return Settings.model_validate(
        {
            "data_dir": str(tmp / "data"),
            "regions": {
                "default": {"database_url": f"sqlite:///{tmp}/default.db"},
                "eu": {"database_url": eu_url},
            },
            "server": {"max_body_bytes": MAX_BODY, "max_json_body_bytes": API_MAX_BODY},
            "connections": connections,
            "destinations": {},
            # The corpus sends many touches from one client: budgets are not what it tests.
            "capture": {"rate_per_minute_per_ip": 100_000},
            "templates": {"nda": {"title": "Mutual NDA"}},
            "triggers": {
                "crm": {
                    "kind": "standard_webhooks",
                    "secrets": [f"file:{tmp / 'crm.secret'}"],
                    "stage": "won",
                    "template_key": "nda",
                },
                "hubspot": {
                    "kind": "hubspot",
                    "secrets": [f"file:{tmp / 'hubspot.secret'}"],
                    "stage": "contractsent",
                    "template_key": "nda",
                },
            },
        }
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("hostile")
    schema = None
    if PG_AVAILABLE:
        schema, eu_url = new_pg_schema()
    else:
        eu_url = f"sqlite:///{tmp}/eu.db"
    container = bootstrap(_settings(tmp, eu_url), auto_migrate=True)
    _, token = create_token(container.databases, "hostile", ["admin"])
    _, capture_key = publishable_keys.create_key(
        container.databases, "hostile", [CAPTURE_ORIGIN], rate_per_minute=100_000
    )
    yield Stack(container, {"Authorization": f"Bearer {token}"}, capture_key)
    container.databases.dispose()
    if schema is not None:
        drop_pg_schema(schema)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    front = create_app(stack.container)
    transport = httpx.ASGITransport(app=front)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkbridge.test") as c:
        yield c
    front.ingest.writers.stop_all()


def row_counts(container: Container) -> dict[str, int]:
    """Rows of every table in every region database, keyed ``region.table``."""
    counts: dict[str, int] = {}
    for db in container.databases:
        with db.reader() as conn:
            for table in metadata.sorted_tables:
                query = select(func.count()).select_from(table)
                counts[f"{db.region}.{table.name}"] = int(conn.execute(query).scalar_one())
    return counts


async def assert_refused_without_change(
    stack: Stack, send: Callable[[], Any], status: int
) -> httpx.Response:
    before = row_counts(stack.container)
    response: httpx.Response = await send()
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM)
    assert row_counts(stack.container) == before
    return response


# --- byte-level mutations of a JSON document ---------------------------------------------------

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


# --- /v1/leads --------------------------------------------------------------------------------

LEAD = {"email": "hostile@example.com", "utm_source": "newsletter", "consents": []}
JSON = {"content-type": "application/json"}


def _lead_bytes(**changes: Any) -> bytes:
    return json.dumps({**LEAD, **changes}).encode()


@dataclass(frozen=True)
class ApiCase:
    name: str
    content: bytes | Callable[[], Any]
    status: int
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    # The problem's `field`, when the case is about one field.
    field_name: str | None = None


LEAD_CASES: tuple[ApiCase, ...] = (
    ApiCase("5 MiB body", b"{" + b" " * (5 * 1024 * 1024) + b"}", 413),
    ApiCase("body just over the limit", _lead_bytes(company="x" * API_MAX_BODY), 413),
    ApiCase("nests 100k deep", b"[" * 20_000 + b"]" * 20_000, 400),
    ApiCase("nests 33 deep", _lead_bytes()[:-1] + b',"x":' + b"[" * 33 + b"]" * 33 + b"}", 400),
    ApiCase("duplicate key", b'{"email":"a@example.com","email":"b@example.com"}', 400),
    ApiCase("lone surrogate", _lead_bytes()[:-1] + rb',"company":"\ud800"}', 400),
    ApiCase("invalid UTF-8", _lead_bytes()[:-1] + b',"company":"\xff"}', 400),
    ApiCase("UTF-8 encoded surrogate", _lead_bytes()[:-1] + b',"company":"\xed\xa0\x80"}', 400),
    ApiCase("NaN", _lead_bytes()[:-1] + b',"company":NaN}', 400),
    ApiCase("Infinity", _lead_bytes()[:-1] + b',"company":Infinity}', 400),
    ApiCase("escaped NUL", _lead_bytes()[:-1] + rb',"company":"a\u0000b"}', 400),
    ApiCase("raw control character", _lead_bytes()[:-1] + b',"company":"a\x02b"}', 400),
    ApiCase("truncated JSON", _lead_bytes()[:20], 400),
    ApiCase("trailing garbage", _lead_bytes() + b"}", 400),
    ApiCase(
        "utm_source of 300 characters",
        _lead_bytes(utm_source="u" * 300),
        422,
        field_name="utm_source",
    ),
    ApiCase(
        "referrer of 2,500 characters", _lead_bytes(referrer="r" * 2500), 422, field_name="referrer"
    ),
    ApiCase(
        "email of 400 characters",
        _lead_bytes(email="e" * 390 + "@example.com"),
        422,
        field_name="email",
    ),
    ApiCase(
        "overlong referrer in a touchpoint",
        _lead_bytes(touchpoints=[{"referrer": "r" * 2500}]),
        422,
        field_name="touchpoints.0.referrer",
    ),
    ApiCase(
        "overlong click id",
        _lead_bytes(touchpoints=[{"click_ids": {"ttclid": "c" * 400}}]),
        422,
        field_name="touchpoints.0.click_ids.ttclid",
    ),
    ApiCase("201 touchpoints", _lead_bytes(touchpoints=[{}] * 201), 422, field_name="touchpoints"),
    ApiCase(
        "overlong consent kind",
        _lead_bytes(consents=[{"kind": "k" * 100}]),
        422,
        field_name="consents.0.kind",
    ),
    ApiCase("unknown consent kind", _lead_bytes(consents=[{"kind": "mind_control"}]), 422),
    ApiCase(
        "huge number as a name",
        _lead_bytes()[:-1] + b',"company":' + b"9" * 400 + b"}",
        422,
        field_name="company",
    ),
    ApiCase("email as a number", _lead_bytes(email=12345), 422, field_name="email"),
    ApiCase(
        "touchpoints as an object", _lead_bytes(touchpoints={"a": 1}), 422, field_name="touchpoints"
    ),
    ApiCase("occurred_at not a time", _lead_bytes(touchpoints=[{"occurred_at": "yesterday"}]), 422),
    ApiCase("array instead of object", json.dumps([LEAD]).encode(), 422),
    ApiCase("homoglyph key", _lead_bytes().replace(b'"email"', '"\u0435mail"'.encode()), 422),
    ApiCase("unknown field", _lead_bytes(is_admin=True), 422, field_name="is_admin"),
    ApiCase("unknown region", _lead_bytes(region="mars"), 422, field_name="region"),
    ApiCase("empty body", b"", 422),
    ApiCase("text/plain", _lead_bytes(), 415, headers={"content-type": "text/plain"}),
    ApiCase(
        "form encoded",
        b"email=a%40example.com",
        415,
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    ApiCase("no content type", _lead_bytes(), 415, headers={}),
)


def _content(case: ApiCase) -> Any:
    return case.content() if callable(case.content) else case.content


@pytest.mark.parametrize("case", LEAD_CASES, ids=lambda case: case.name)
async def test_a_hostile_lead_is_refused(
    stack: Stack, client: httpx.AsyncClient, case: ApiCase
) -> None:
    headers = {**stack.admin, **case.headers}
    response = await assert_refused_without_change(
        stack,
        lambda: client.post("/v1/leads", content=_content(case), headers=headers),
        case.status,
    )
    if case.field_name is not None:
        assert response.json()["field"] == case.field_name


async def test_a_lead_without_a_token_or_with_a_bad_one_is_refused(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    for headers, status in (({}, 401), ({"Authorization": "Bearer ink_nope"}, 401)):
        await assert_refused_without_change(
            stack,
            lambda h=headers: client.post(
                "/v1/leads", content=_lead_bytes(), headers={**JSON, **h}
            ),
            status,
        )


async def test_the_valid_lead_the_cases_start_from_is_accepted(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/v1/leads", content=_lead_bytes(), headers={**stack.admin, **JSON}
    )
    assert response.status_code == 201


# --- /v1/touchpoints --------------------------------------------------------------------------


CAPTURE_ORIGIN = "https://www.example.test"


def touch_credentials(stack: Stack) -> dict[str, Any]:
    """What a capture snippet sends with a touch besides its body: its publishable key (in the
    URL) and its page's Origin."""
    return {"params": {"key": stack.capture_key}, "headers": {"origin": CAPTURE_ORIGIN}}


TOUCH = {"anonymous_id": "anon-hostile", "utm_source": "ads"}


def _touch_bytes(**changes: Any) -> bytes:
    return json.dumps({**TOUCH, **changes}).encode()


TOUCH_CASES: tuple[ApiCase, ...] = (
    ApiCase("body over the /v1 limit", _touch_bytes(referrer="r" * API_MAX_BODY), 413),
    ApiCase("body over the touch limit", _touch_bytes(pad="p" * 17_000), 422),
    ApiCase("nests 100k deep", b"[" * 20_000 + b"]" * 20_000, 400),
    ApiCase("duplicate key", b'{"anonymous_id":"a","anonymous_id":"b"}', 400),
    ApiCase("lone surrogate", _touch_bytes()[:-1] + rb',"utm_term":"\udc00"}', 400),
    ApiCase("invalid UTF-8", _touch_bytes()[:-1] + b',"utm_term":"\xfe"}', 400),
    ApiCase("NaN", _touch_bytes()[:-1] + b',"utm_term":NaN}', 400),
    ApiCase("escaped NUL", _touch_bytes()[:-1] + rb',"utm_term":"\u0000"}', 400),
    ApiCase("truncated JSON", _touch_bytes()[:10], 400),
    ApiCase("garbage sent as text/plain", b"{oops", 400, headers={"content-type": "text/plain"}),
    ApiCase("missing anonymous_id", json.dumps({"utm_source": "ads"}).encode(), 422),
    ApiCase("overlong anonymous_id", _touch_bytes(anonymous_id="a" * 101), 422),
    ApiCase("overlong utm_campaign", _touch_bytes(utm_campaign="c" * 201), 422),
    ApiCase("anonymous_id as a number", _touch_bytes(anonymous_id=7), 422),
    ApiCase("array instead of object", json.dumps([TOUCH]).encode(), 422),
    ApiCase(
        "homoglyph key", _touch_bytes().replace(b'"utm_source"', '"utm_s\u043eurce"'.encode()), 422
    ),
    ApiCase("empty body", b"", 422),
    ApiCase("XML content type", b"<touch/>", 415, headers={"content-type": "application/xml"}),
)


@pytest.mark.parametrize("case", TOUCH_CASES, ids=lambda case: case.name)
async def test_a_hostile_touch_is_refused(
    stack: Stack, client: httpx.AsyncClient, case: ApiCase
) -> None:
    sent = touch_credentials(stack)
    headers = {**sent["headers"], **case.headers}
    await assert_refused_without_change(
        stack,
        lambda: client.post(
            "/v1/touchpoints", content=_content(case), headers=headers, params=sent["params"]
        ),
        case.status,
    )


@pytest.mark.parametrize(
    ("name", "params", "origin", "status"),
    [
        ("no publishable key", {}, CAPTURE_ORIGIN, 401),
        ("an unknown publishable key", {"key": "pk_unknown"}, CAPTURE_ORIGIN, 401),
        ("an API token as the key", {"key": "ibk_not-a-publishable-key"}, CAPTURE_ORIGIN, 401),
        ("no Origin", None, None, 403),
        ("a foreign Origin", None, "https://evil.example", 403),
        ("the null Origin", None, "null", 403),
    ],
)
async def test_a_touch_without_its_key_or_origin_is_refused(
    stack: Stack,
    client: httpx.AsyncClient,
    name: str,
    params: dict[str, str] | None,
    origin: str | None,
    status: int,
) -> None:
    sent = touch_credentials(stack)
    headers = {**JSON, **({"origin": origin} if origin else {})}
    await assert_refused_without_change(
        stack,
        lambda: client.post(
            "/v1/touchpoints",
            content=_touch_bytes(),
            headers=headers,
            params=sent["params"] if params is None else params,
        ),
        status,
    )


async def test_the_valid_touch_the_cases_start_from_is_accepted(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    sent = touch_credentials(stack)
    headers = {**sent["headers"], **JSON}
    response = await client.post(
        "/v1/touchpoints", content=_touch_bytes(), headers=headers, params=sent["params"]
    )
    assert response.status_code == 202


# --- /v1/triggers/{name} ----------------------------------------------------------------------


def crm_trigger(body: bytes, secret: str = STANDARD_SECRET) -> dict[str, Any]:
    headers = standard_signed_headers(secret, f"msg_{uuid.uuid4().hex}", int(time.time()), body)
    return {"content": body, "headers": {**JSON, **headers}}


def hubspot_trigger(body: bytes, secret: str = HUBSPOT_SECRET) -> dict[str, Any]:
    stamp = str(int(time.time() * 1000))
    uri = "http://127.0.0.1:8000/v1/triggers/hubspot"
    digest = hmac.new(
        secret.encode(), b"POST" + uri.encode() + body + stamp.encode(), hashlib.sha256
    )
    headers = {
        "x-hubspot-signature-v3": base64.b64encode(digest.digest()).decode(),
        "x-hubspot-request-timestamp": stamp,
    }
    return {"content": body, "headers": {**JSON, **headers}}


def _deal(**data: Any) -> bytes:
    fields = {"deal_id": "d-1", "stage": "won", "email": "deal@example.com", **data}
    return json.dumps({"type": "deal.stage_reached", "data": fields}).encode()


def _hubspot_event(**changes: Any) -> dict[str, Any]:
    event = {
        "subscriptionType": "deal.propertyChange",
        "propertyName": "dealstage",
        "propertyValue": "contractsent",
        "objectId": 42,
        "occurredAt": 1772446542000,
    }
    return {**event, **changes}


TRIGGER_CASES: tuple[tuple[str, str, Callable[[], dict[str, Any]], int], ...] = (
    ("unknown trigger", "nobody", lambda: crm_trigger(_deal()), 404),
    (
        "signed with another secret",
        "crm",
        lambda: crm_trigger(_deal(), secret="whsec_" + "A" * 32),
        401,
    ),
    ("unsigned", "crm", lambda: {"content": _deal(), "headers": JSON}, 401),
    ("nests 100k deep", "crm", lambda: crm_trigger(b"[" * 100_000 + b"]" * 100_000), 400),
    (
        "duplicate key",
        "crm",
        lambda: crm_trigger(_deal()[:-1] + b',"type":"deal.stage_reached"}'),
        400,
    ),
    ("lone surrogate in deal_id", "crm", lambda: crm_trigger(_deal(deal_id="\ud800")), 400),
    (
        "invalid UTF-8",
        "crm",
        lambda: crm_trigger(_deal(deal_id="d").replace(b'"d"', b'"\xff"')),
        400,
    ),
    ("NaN deal id", "crm", lambda: crm_trigger(_deal().replace(b'"d-1"', b"NaN")), 400),
    ("deal id of 10,000 characters", "crm", lambda: crm_trigger(_deal(deal_id="d" * 10_000)), 400),
    ("deal id as an object", "crm", lambda: crm_trigger(_deal(deal_id={"a": 1})), 400),
    ("email as a list", "crm", lambda: crm_trigger(_deal(email=["a@example.com"])), 400),
    ("truncated JSON", "crm", lambda: crm_trigger(_deal()[:15]), 400),
    ("array instead of object", "crm", lambda: crm_trigger(b"[" + _deal() + b"]"), 400),
    ("body over the size limit", "crm", lambda: crm_trigger(_deal(pad="p" * MAX_BODY)), 413),
    (
        "HubSpot: signed with another secret",
        "hubspot",
        lambda: hubspot_trigger(json.dumps([_hubspot_event()]).encode(), "other"),
        401,
    ),
    (
        "HubSpot: object instead of array",
        "hubspot",
        lambda: hubspot_trigger(json.dumps(_hubspot_event()).encode()),
        400,
    ),
    (
        "HubSpot: duplicate key",
        "hubspot",
        lambda: hubspot_trigger(json.dumps([_hubspot_event()]).encode()[:-2] + b',"objectId":43}]'),
        400,
    ),
    (
        "HubSpot: objectId as an object",
        "hubspot",
        lambda: hubspot_trigger(json.dumps([_hubspot_event(objectId={"id": 1})]).encode()),
        400,
    ),
    (
        "HubSpot: Infinity as objectId",
        "hubspot",
        lambda: hubspot_trigger(
            json.dumps([_hubspot_event(objectId=0)])
            .encode()
            .replace(b'"objectId": 0', b'"objectId": Infinity')
        ),
        400,
    ),
)


@pytest.mark.parametrize(
    ("name", "build", "status"),
    [pytest.param(name, build, status, id=case) for case, name, build, status in TRIGGER_CASES],
)
async def test_a_hostile_trigger_is_refused(
    stack: Stack,
    client: httpx.AsyncClient,
    name: str,
    build: Callable[[], dict[str, Any]],
    status: int,
) -> None:
    request = build()
    await assert_refused_without_change(
        stack, lambda: client.post(f"/v1/triggers/{name}", **request), status
    )


async def test_the_valid_triggers_the_cases_start_from_are_queued(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    crm = await client.post("/v1/triggers/crm", **crm_trigger(_deal(deal_id=uuid.uuid4().hex)))
    hubspot_body = json.dumps([_hubspot_event(objectId=int(time.time()))]).encode()
    hubspot = await client.post("/v1/triggers/hubspot", **hubspot_trigger(hubspot_body))
    assert (crm.status_code, crm.json()) == (200, {"queued": 1})
    assert (hubspot.status_code, hubspot.json()) == (200, {"queued": 1})


async def test_an_oversized_chunked_lead_is_refused_before_it_is_read_in_full(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email":"chunked@example.com","company":"'
        for _ in range(5 * 1024):  # 5 MiB in all, were it all read
            sent.append(1)
            yield b"x" * 1024

    async def send() -> httpx.Response:
        return await client.post("/v1/leads", content=chunks(), headers={**stack.admin, **JSON})

    await assert_refused_without_change(stack, send, 413)
    # Reading stopped at the limit: about 64 of the 5,120 chunks were ever asked for.
    assert sum(sent) <= API_MAX_BODY // 1024 + 1
