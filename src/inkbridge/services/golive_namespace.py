"""The go-live test namespace: which leads ``inkbridge golive`` may erase with its own token.

A go-live run captures its leads with addresses at ``example.invalid`` (the rule is
``golive_mark.is_test_email``), so a ``golive`` token can clean up after itself without the
``privacy`` scope's power to erase anyone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inkbridge.errors import NotFound, OutsideTestNamespace
from inkbridge.services.erasure import Erasure, erase_lead, find_erasure
from inkbridge.services.golive_mark import TEST_EMAIL_DOMAIN as TEST_EMAIL_DOMAIN
from inkbridge.services.golive_mark import is_test_email
from inkbridge.services.leads import find_lead
from inkbridge.services.routing import Destination
from inkbridge.store.database import Databases


def find_test_lead(databases: Databases, lead_id: str) -> tuple[str, dict[str, Any]]:
    """(region, lead row) of a go-live test lead; any other lead is OutsideTestNamespace."""
    region, lead = find_lead(databases, lead_id)
    if not is_test_email(lead["email"]):
        raise OutsideTestNamespace(lead_id)
    return region, lead


def erase_test_lead(
    databases: Databases,
    lead_id: str,
    *,
    destinations: Mapping[str, Destination],
    actor: str,
) -> Erasure:
    """Erase a go-live test lead; a lead of anyone else is refused (OutsideTestNamespace). A
    test lead already erased (its address is gone) answers with its erasure, as for ``privacy``."""
    try:
        return find_erasure(databases, lead_id)
    except NotFound:
        pass
    _, lead = find_lead(databases, lead_id)
    if not is_test_email(lead["email"]):
        raise OutsideTestNamespace(lead_id)
    return erase_lead(databases, lead_id, destinations=destinations, actor=actor)
