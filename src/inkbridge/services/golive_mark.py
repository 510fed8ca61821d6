"""The test mark: which leads are ``inkbridge golive``'s test leads, and the ``"test": true``
every outbox change about one of them carries, so each destination can tell a go-live record
from a person's (the outbound webhook sends it in its body, the sandbox CRM keeps it as
``inkbridge_test``, a CRM connector maps the canonical field ``test`` when told to).

A test lead is one whose email is at ``example.invalid`` (RFC 2606: a domain that can never name
a person's mailbox), the address every golive capture uses. A change about anyone else is left
exactly as it was built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEST_EMAIL_DOMAIN = "example.invalid"
TEST_MARK = "test"


def is_test_email(email: str | None) -> bool:
    return isinstance(email, str) and email.lower().endswith("@" + TEST_EMAIL_DOMAIN)


def is_test_lead(lead: Any) -> bool:
    """Whether ``lead`` (a lead row or the lead of a change's payload) is a golive test lead."""
    return isinstance(lead, Mapping) and is_test_email(lead.get("email"))


def marked(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with ``"test": true`` when the lead it carries is a golive test lead;
    unchanged (the same object) otherwise."""
    if not is_test_lead(payload.get("lead")):
        return payload
    return {**payload, TEST_MARK: True}
