"""Strict JSON for untrusted senders: what is refused, what still reads, and the depth scan."""

from __future__ import annotations

import json

import pytest

from inkbridge.untrusted_json import UnreadableJson, loads, nesting_depth

REFUSED = [
    (b'{"type":"a","type":"b"}', "repeats a key"),
    (b'{"a":{"k":1,"k":1}}', "repeats a key"),
    (b'{"envelope_id":"\\ud800"}', "lone UTF-16 surrogate"),
    (b'{"\\udc00":1}', "lone UTF-16 surrogate"),
    (b'["\\ude00\\ud83d"]', "lone UTF-16 surrogate"),
    (b'{"a":"\\u0000"}', "NUL"),
    (b"[NaN]", "NaN"),
    (b"[-Infinity]", "-Infinity"),
    (b"[1e400]", "too large for a float"),
    (b'"\xff"', "not valid UTF-8"),
    (b'"\xed\xa0\x80"', "not valid UTF-8"),
    (json.dumps({"a": 1}).encode("utf-16"), "not valid UTF-8"),
    (b"[" * 33 + b"]" * 33, "deeper than 32"),
    (b"[" * 100_000, "deeper than 32"),
    (b"{", "not valid JSON"),
    (b"1" * 5000, "not valid JSON"),
]


@pytest.mark.parametrize(("body", "reason"), REFUSED)
def test_a_body_inkbridge_does_not_accept_is_refused_with_its_reason(
    body: bytes, reason: str
) -> None:
    with pytest.raises(UnreadableJson) as refused:
        loads(body)
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a":"\\ud83d\\ude00"}', {"a": "\U0001f600"}),  # a surrogate pair is one character
        (b'{"a":"\\\\u0000"}', {"a": "\\u0000"}),  # an escaped backslash, not an escape
        (b'{"a":"' + b"[" * 40 + b'"}', {"a": "[" * 40}),
        (b'{"a":"\\"' + b"[" * 35 + b'"}', {"a": '"' + "[" * 35}),
        (b"[" * 32 + b"]" * 32, [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
        ('{"caf\u00e9": 1.5}'.encode(), {"caf\u00e9": 1.5}),
    ],
)
def test_ordinary_json_reads_as_before(body: bytes, value: object) -> None:
    assert loads(body) == value


def test_the_depth_scan_skips_brackets_inside_strings() -> None:
    assert nesting_depth(b'{"a":"[[[{{{","b":[1,[2]]}') == 3
    assert nesting_depth(b'"just a string"') == 0


def test_lenient_reading_keeps_the_depth_limit_but_not_the_strict_checks() -> None:
    assert loads(b'{"a":1,"a":2}', strict=False) == {"a": 2}
    with pytest.raises(UnreadableJson):
        loads(b"[" * 100_000, strict=False)
