"""Log lines carry no personal data: the guard hashes identifiers, drops free text about a person,
redacts secrets and masks addresses and phone numbers in any string, for inkbridge's own lines
and for every stdlib logger's (uvicorn's included), exceptions too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from inkbridge import logs
from inkbridge.logs import PersonalDataGuard

ADA = "Ada.Lovelace@Example.test"
GUARD = PersonalDataGuard(b"test-key")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Logging as it was before the test configured it (it writes to the captured stderr)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_identifier_fields_are_hashed_alike_and_free_text_is_dropped() -> None:
    event = GUARD(
        None,
        "info",
        {
            "event": "lead_captured",
            "email": ADA,
            "recipient_email": ADA.lower(),
            "phone_number": "+44 20 7946 0958",
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0",
            "first_name": "Ada",
            "name": "Ada Lovelace",
            "address": "12 St James's Square",
            "token": "ibk_secret",
            "region": "eu",
            "count": 3,
        },
    )

    assert event["email"] == event["recipient_email"] == GUARD.pseudonym(ADA)
    assert str(event["email"]).startswith("sha256:") and len(str(event["email"])) == 19
    assert str(event["phone_number"]).startswith("sha256:")
    assert str(event["ip"]).startswith("sha256:")
    assert str(event["user_agent"]).startswith("sha256:")
    assert event["first_name"] == event["name"] == event["address"] == "[redacted]"
    assert event["token"] == "[redacted]"
    assert (event["region"], event["count"], event["event"]) == ("eu", 3, "lead_captured")


def test_addresses_are_masked_in_any_string_nested_or_not() -> None:
    event = GUARD(
        None,
        "error",
        {
            "event": f"no lead for {ADA}",
            "detail": {"signers": [f"<{ADA}>", {"note": f"cc {ADA}; ok"}], "n": 1},
            "error": ("ValueError", f"bad recipient {ADA}"),
        },
    )

    text = json.dumps(event)
    assert ADA not in text and ADA.lower() not in text
    assert f"[email {GUARD.pseudonym(ADA)}]" in event["event"]
    assert event["detail"]["n"] == 1


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +44 20 7946 0958 now", True),
        ("call +1 (555) 123-4567 now", True),
        ("+4915112345678", True),
        ("at 2026-12-03T14:19:23.123+00:00", False),
        ("offset +0100 and +12", False),
        ("lead cor_01m8y4cd2bdvnfej28xm0ksznc on port 8000", False),
        ("receipt 4 of 12345678901", False),
        ("a+b@c", False),  # no dotted domain: not an address
    ],
)
def test_only_phone_numbers_in_international_form_are_masked(text: str, masked: bool) -> None:
    assert (GUARD.mask(text) != text) is masked


def test_strings_without_an_at_sign_or_a_plus_are_returned_untouched() -> None:
    text = "receipt_processed connection=sandbox receipt_id=12"

    assert GUARD.mask(text) is text


def test_a_keyless_guard_hashes_with_a_key_of_its_own() -> None:
    one, other = PersonalDataGuard(), PersonalDataGuard()

    assert one.pseudonym(ADA) == one.pseudonym(ADA.upper())
    assert one.pseudonym(ADA) != other.pseudonym(ADA)


def test_inkbridge_lines_mask_exception_text(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configured = logs.configure("info", b"test-key")
    log = structlog.get_logger("inkbridge.test")
    try:
        raise KeyError(f"no recipient {ADA}")
    except KeyError:
        log.exception("lookup_failed", email=ADA)

    [line] = _lines(capsys)
    assert ADA not in json.dumps(line)
    assert line["email"] == configured.pseudonym(ADA)
    assert "KeyError" in str(line["exception"])
    assert "[email sha256:" in str(line["exception"])


def test_foreign_records_pass_the_same_guard_with_their_exceptions(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configured = logs.configure("info", b"test-key")
    try:
        raise RuntimeError(f"upstream refused {ADA} (+44 20 7946 0958)")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("somelib").warning("retrying for %s", ADA)
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d', "203.0.113.9:51234", "GET", f"/x?email={ADA}", "1.1", 200
    )

    lines = _lines(capsys)
    output = json.dumps(lines)
    assert ADA not in output and "7946" not in output and "203.0.113.9" not in output
    assert [line["logger"] for line in lines] == ["uvicorn.error", "somelib", "uvicorn.access"]
    assert "RuntimeError" in str(lines[0]["exception"])
    assert str(lines[2]["event"]).startswith(configured.pseudonym("203.0.113.9"))
