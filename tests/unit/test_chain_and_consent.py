"""Hash chains, consent projection and evidence minimisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inkbridge.domain.attribution import Touchpoint, attribution_metadata, first_touch
from inkbridge.domain.chain import GENESIS, first_break, link_hash
from inkbridge.domain.consent import (
    ConsentEntry,
    ConsentKind,
    ConsentStatus,
    current_status,
    minimise_ip,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _chain(contents: list[dict[str, object]]) -> list[tuple[str, str, dict[str, object]]]:
    out, prev = [], GENESIS
    for content in contents:
        entry = link_hash(prev, content)
        out.append((prev, entry, content))
        prev = entry
    return out


def test_an_intact_chain_has_no_break_and_any_edit_is_found() -> None:
    entries = _chain([{"n": i} for i in range(5)])
    assert first_break(entries) is None
    prev, entry, _ = entries[2]
    entries[2] = (prev, entry, {"n": 99})
    assert first_break(entries) == 2


def test_removing_an_entry_breaks_the_next_link() -> None:
    entries = _chain([{"n": i} for i in range(5)])
    del entries[1]
    assert first_break(entries) == 1


def test_withdrawal_appends_and_wins_over_an_earlier_grant() -> None:
    ledger = [
        ConsentEntry(ConsentKind.MARKETING_EMAIL, ConsentStatus.GRANTED, T0),
        ConsentEntry(ConsentKind.CONTRACT_EXECUTION, ConsentStatus.GRANTED, T0),
        ConsentEntry(ConsentKind.MARKETING_EMAIL, ConsentStatus.WITHDRAWN, T0 + timedelta(days=3)),
    ]
    assert current_status(ledger) == {
        "marketing_email": "withdrawn",
        "contract_execution": "granted",
    }


def test_evidence_ips_are_minimised_to_their_network() -> None:
    assert minimise_ip("203.0.113.77") == "203.0.113.0/24"
    assert minimise_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348") == "2001:db8:85a3::/48"
    assert minimise_ip("nonsense") is None


def test_first_touch_is_the_earliest_touchpoint_whatever_the_order() -> None:
    late = Touchpoint(occurred_at=T0 + timedelta(days=1), utm_campaign="retarget")
    early = Touchpoint(occurred_at=T0, utm_campaign="launch", click_ids={"gclid": "g1"})
    frozen = first_touch([late, early])
    assert frozen["utm_campaign"] == "launch"
    assert attribution_metadata(frozen) == {"utm_campaign": "launch", "gclid": "g1"}
