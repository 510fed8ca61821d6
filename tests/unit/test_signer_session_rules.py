"""The rules of verified signer sessions, without I/O: authentication age, exact-origin
allow-lists, subject hashing and the minimised browser and network kept as evidence."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inkbridge.config import Settings
from inkbridge.domain.consent import minimise_ip
from inkbridge.domain.signer_session import (
    AuthenticationAge,
    authentication_age,
    minimise_user_agent,
    normalise_origin,
    origin_of,
    return_url_allowed,
    subject_hash,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)
SKEW = timedelta(seconds=60)


@pytest.mark.parametrize(
    ("authenticated_at", "age"),
    [
        (NOW, AuthenticationAge.FRESH),
        (NOW - TEN, AuthenticationAge.FRESH),
        (NOW - TEN - timedelta(seconds=1), AuthenticationAge.STALE),
        (NOW + SKEW, AuthenticationAge.FRESH),
        (NOW + SKEW + timedelta(seconds=1), AuthenticationAge.FUTURE),
    ],
)
def test_an_authentication_is_fresh_within_the_maximum_age_and_the_clock_skew(
    authenticated_at: datetime, age: AuthenticationAge
) -> None:
    assert authentication_age(authenticated_at, NOW, max_age=TEN, skew=SKEW) is age


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://app.example.test/done?x=1", "https://app.example.test"),
        ("HTTPS://App.Example.TEST:443/", "https://app.example.test"),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("https://app.example.test:8443", "https://app.example.test:8443"),
        ("https://user:pw@app.example.test/", None),
        ("https://app.example.test@evil.test/", None),
        ("https://app.example.test\\@evil.test/", None),
        ("https://app.example.test /", None),
        ("javascript:alert(1)", None),
        ("//app.example.test/", None),
        ("/relative", None),
        ("https://app.example.test:99999/", None),
        ("ftp://app.example.test/", None),
        ("", None),
    ],
)
def test_the_origin_of_a_url(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_only_an_exact_origin_is_allowed() -> None:
    allowed = frozenset({normalise_origin("https://app.example.test")})

    assert return_url_allowed("https://app.example.test/any/path?q=1#f", allowed)
    assert not return_url_allowed("https://app.example.test.evil.test/", allowed)
    assert not return_url_allowed("https://evil.app.example.test/", allowed)
    assert not return_url_allowed("http://app.example.test/", allowed)
    assert not return_url_allowed("https://app.example.test:8443/", allowed)


@pytest.mark.parametrize(
    "entry",
    [
        "https://*.example.test",
        "*",
        "https://app.example.test/path",
        "https://app.example.test/?q=1",
        "app.example.test",
        "https://app.example.test#x",
    ],
)
def test_an_allow_list_entry_must_be_a_bare_origin(entry: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        normalise_origin(entry)
    with pytest.raises(ValueError):
        Settings.model_validate({"templates": {"nda": {"title": "t", "return_origins": [entry]}}})
    with pytest.raises(ValueError):
        Settings.model_validate({"connections": {"c": {"return_origins": [entry]}}})


def test_configured_origins_are_normalised() -> None:
    settings = Settings.model_validate(
        {
            "templates": {"nda": {"title": "t", "return_origins": ["HTTPS://App.Test:443/"]}},
            "signing": {"max_auth_age": "PT15M", "session_ttl": 120},
        }
    )

    assert settings.templates["nda"].return_origins == ["https://app.test"]
    assert settings.signing.max_auth_age == timedelta(minutes=15)
    assert settings.signing.session_ttl == timedelta(minutes=2)
    assert Settings().signing.max_auth_age == TEN
    assert Settings().signing.session_ttl == timedelta(minutes=5)


def test_the_subject_is_hashed_and_keyed_when_a_key_is_configured() -> None:
    assert subject_hash("user-1") == hashlib.sha256(b"user-1").hexdigest()
    keyed = subject_hash("user-1", b"k")
    assert keyed == hmac.new(b"k", b"user-1", hashlib.sha256).hexdigest()
    assert keyed != subject_hash("user-1")


@pytest.mark.parametrize(
    ("agent", "kept"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "Edge 126",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36",
            "Headless Chrome 131",
        ),
        (
            "python-httpx/0.28.1 and a very long tail that names the machine",
            "python-httpx/0.28.1 and a very long tail",  # its first 40 characters
        ),
        ("", None),
        (None, None),
    ],
)
def test_a_user_agent_is_kept_as_browser_family_and_major_version(
    agent: str | None, kept: str | None
) -> None:
    assert minimise_user_agent(agent) == kept


def test_an_ip_keeps_only_its_network() -> None:
    assert minimise_ip("198.51.100.23") == "198.51.100.0/24"
    assert minimise_ip("2001:db8:1:2::77") == "2001:db8:1::/48"
    assert minimise_ip("::ffff:198.51.100.23") == "198.51.100.0/24"
    assert minimise_ip("not-an-ip") is None
