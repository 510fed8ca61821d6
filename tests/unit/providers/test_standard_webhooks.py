"""The standard_webhooks vectors of vendor/vectors.json against the existing adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inkbridge.errors import SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.vendor_http.signing import sign
from tests.unit.providers.support import inbound, secrets

# The standard_webhooks vector (from the specification's own test suite).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
PAYLOAD = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
INVALID_SIGNATURE = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
ED25519_SIGNATURE = (
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)
TOLERANCE_SECONDS = 300

SENT_AT = datetime.fromtimestamp(TIMESTAMP, tz=UTC)


def delivered(signature: str, at: datetime = SENT_AT) -> InboundRequest:
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": signature,
    }
    return inbound(PAYLOAD, headers, received_at=at)


def test_signing_reproduces_the_vector() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, PAYLOAD) == SIGNATURE


def test_the_vector_verifies() -> None:
    StandardWebhooksAdapter(secrets(SECRET)).verify(delivered(SIGNATURE))


def test_the_invalid_vector_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        StandardWebhooksAdapter(secrets(SECRET)).verify(delivered(INVALID_SIGNATURE))


def test_one_valid_signature_among_several_verifies() -> None:
    offered = f"{INVALID_SIGNATURE} {SIGNATURE}"
    StandardWebhooksAdapter(secrets(SECRET)).verify(delivered(offered))


@pytest.mark.parametrize("skew", [TOLERANCE_SECONDS + 1, -(TOLERANCE_SECONDS + 1)])
def test_the_vector_outside_the_tolerance_is_refused(skew: int) -> None:
    adapter = StandardWebhooksAdapter(secrets(SECRET), tolerance_seconds=TOLERANCE_SECONDS)
    with pytest.raises(SignatureInvalid):
        adapter.verify(delivered(SIGNATURE, at=SENT_AT + timedelta(seconds=skew)))


def test_an_ed25519_signature_alone_is_not_accepted_by_the_hmac_adapter() -> None:
    # The adapter holds symmetric secrets only; a v1a (Ed25519) signature would need the
    # sender's public key, which no connection configures today.
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        StandardWebhooksAdapter(secrets(SECRET)).verify(delivered(ED25519_SIGNATURE))
