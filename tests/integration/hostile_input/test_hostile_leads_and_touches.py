"""Hostile `/v1/leads` and `/v1/touchpoints` requests (see ``support``): bad JSON, bad fields,
missing credentials, keys or origins, and an oversized chunked lead refused before it is read
in full; the valid lead and touch the cases start from are accepted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .support import (
    API_MAX_BODY,
    CAPTURE_ORIGIN,
    JSON,
    ApiCase,
    Stack,
    _content,
    assert_refused_without_change,
)

LEAD = {"email": "hostile@example.com", "utm_source": "newsletter", "consents": []}


def _lead_bytes(**changes: Any) -> bytes:
    return json.dumps({**LEAD, **changes}).encode()


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
