"""An error's text is its message formatted over its own fields; an error without one reads as
the exception it was raised with."""

from __future__ import annotations

from dataclasses import dataclass

from inkbridge.errors import (
    InkbridgeError,
    InvalidInput,
    NotFound,
    OriginNotAllowed,
    PermanentError,
    RateLimited,
    RetryableError,
    UnmigratedDatabase,
)
from inkbridge.privacy.field_cipher import SealedValueUnreadable
from inkbridge.privacy.region_keys import KeyUnavailable


def test_an_error_reads_as_its_message_over_its_fields() -> None:
    assert str(NotFound("lead", "ld_1")) == "lead 'ld_1' not found"
    assert str(RateLimited("key", 30)) == "too many requests for this key; retry after 30 s"
    assert str(UnmigratedDatabase("eu", None, "0016")) == (
        "database of region 'eu' is at revision None, code needs '0016': run `inkbridge migrate`"
    )


def test_a_field_value_is_never_read_as_a_format_string() -> None:
    assert str(NotFound("lead", "{kind}")) == "lead '{kind}' not found"


def test_a_message_without_fields_is_the_text_itself() -> None:
    assert str(OriginNotAllowed()) == "the request's Origin is not on this key's allow-list"


def test_an_error_raised_with_a_reason_reads_as_that_reason() -> None:
    assert str(RetryableError("timeout", retry_after=5)) == "timeout"
    assert str(PermanentError("auth revoked")) == "auth revoked"
    assert str(InkbridgeError("plain")) == "plain"


def test_an_invalid_input_names_its_field_when_it_has_one() -> None:
    assert str(InvalidInput("too long", field="name")) == "name: too long"
    assert str(InvalidInput("too long")) == "too long"


def test_an_error_of_another_module_formats_the_same_way() -> None:
    text = str(KeyUnavailable("eu", "k9"))
    assert text.startswith("region 'eu' holds data keys wrapped under key id 'k9', ")
    assert text.endswith("(then run `inkbridge keys rotate --region eu`)")
    assert str(SealedValueUnreadable("leads.email", "tag mismatch")) == (
        "the sealed value of leads.email cannot be opened: tag mismatch"
    )


def test_a_new_error_needs_only_its_fields_and_its_message() -> None:
    @dataclass
    class Overdue(InkbridgeError):
        envelope_id: str
        days: int

        message = "envelope {envelope_id!r} is {days} days overdue"

    assert str(Overdue("env_1", 3)) == "envelope 'env_1' is 3 days overdue"
