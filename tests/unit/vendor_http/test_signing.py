"""Standard Webhooks signing and verification as the layer owns it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from inkbridge.errors import SignatureInvalid
from inkbridge.vendor_http.signing import secret_key, signed_headers, verify

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
ROTATED = "whsec_" + base64.b64encode(b"r" * 32).decode()
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BODY = b'{"type":"document.completed","data":{}}'


def headers_at(when: datetime, secret: str = SECRET) -> dict[str, str]:
    return signed_headers(secret, "msg_1", int(when.timestamp()), BODY)


def test_a_signed_message_verifies_with_any_active_secret() -> None:
    verify([SecretStr(ROTATED), SecretStr(SECRET)], headers_at(NOW), BODY, NOW)


def test_a_changed_body_does_not_verify() -> None:
    with pytest.raises(SignatureInvalid):
        verify([SecretStr(SECRET)], headers_at(NOW), BODY + b" ", NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_a_timestamp_outside_the_tolerance_does_not_verify(skew: timedelta) -> None:
    with pytest.raises(SignatureInvalid):
        verify([SecretStr(SECRET)], headers_at(NOW + skew), BODY, NOW)


def test_a_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")
