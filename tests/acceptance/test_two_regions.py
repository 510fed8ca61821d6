"""Two regions sealed, end to end over real processes (``two_regions_stack``): leads with
emails, names and phone numbers captured in ``eu`` (home) and ``us``, their envelopes signed to
completion, then each region backed up with ``inkbridge backup`` into its declared directory;
and two forged webhooks arrive at the ``eu`` connection, correctly signed with its secret: one
naming a ``us`` envelope and lead, one whose signer is only a ``us`` lead. Both are refused and
shown to the operator; no byte of one region's emails, names or phone numbers is found in the
other region's database files (write-ahead log included), backups, outbox rows, destinations'
stores or sandbox provider account, nor in any line the server logged; and a region's own
database files and backups hold its own people's values only encrypted."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.stack import poll_until
from tests.acceptance.two_regions_stack import (
    PEOPLE,
    REGIONS,
    Person,
    Run,
    crossings,
    files,
    of,
    other,
    two_region_run,
)
from tests.support.builders import event_body, signed
from tests.support.regions import REFUSED_RECEIPT_KEYS

pytestmark = pytest.mark.slow


@dataclass
class Seen:
    """The run, what it showed the operator, and the backups it took."""

    run: Run
    refused: list[dict[str, Any]] = field(default_factory=list)
    metrics: str = ""
    forged_answers: list[int] = field(default_factory=list)
    envelope_regions: list[str] = field(default_factory=list)  # of every envelope, after all
    backups: dict[str, Path] = field(default_factory=dict)


def _forge(seen: Seen, body: bytes) -> None:
    """POST ``body`` at the eu connection, signed with the eu connection's own secret."""
    answer = httpx.post(
        f"{seen.run.base}/v1/webhooks/sandbox", content=body, headers=signed(body), timeout=10
    )
    seen.forged_answers.append(answer.status_code)


def _forge_both(seen: Seen) -> None:
    run = seen.run
    us_person, us_other = of("us")
    now = datetime.now(UTC)
    # Names a us envelope and its lead (and carries the us signer's email).
    _forge(
        seen,
        event_body(
            "document_completed",
            f"sbx_forged_{uuid.uuid4().hex[:8]}",
            now,
            metadata={
                "inkbridge_envelope_id": run.envelopes[us_person.email],
                "inkbridge_lead_id": run.leads[us_person.email],
            },
            recipient_email=us_person.email,
        ),
    )
    # Sent by hand at the eu vendor account to a person only us knows: no inkbridge ids.
    _forge(
        seen,
        event_body(
            "recipient_signed",
            f"sbx_by_hand_{uuid.uuid4().hex[:8]}",
            now,
            "1",
            recipient_email=us_other.email,
        ),
    )


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
    with two_region_run(tmp_path_factory.mktemp("two_regions")) as run:
        seen = Seen(run)
        with run.api() as api:
            _forge_both(seen)
            seen.refused = poll_until(
                lambda: _refused_listing(api, expected=2), "two refused receipts", 30
            )
            seen.metrics = httpx.get(run.base + "/metrics", timeout=10).text
            listed = api.get("/v1/envelopes", params={"limit": 50}).json()["envelopes"]
            seen.envelope_regions = sorted(e["region"] for e in listed)
        # Taken with the server running (the online backup), by the command line.
        seen.backups = {region: run.backup(region) for region in REGIONS}
        yield seen


def _refused_listing(api: httpx.Client, expected: int) -> list[dict[str, Any]] | None:
    answer = api.get("/v1/admin/receipts", params={"status": "refused_residency"})
    assert answer.status_code == 200, answer.text
    found = list(answer.json()["receipts"])
    return found if len(found) >= expected else None


def _metric(text: str, reason: str) -> float:
    prefix = f'inkbridge_receipts_refused_residency_total{{reason="{reason}",region="eu"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


def test_a_forged_webhook_naming_a_us_envelope_and_lead_is_refused_and_visible(seen: Seen) -> None:
    assert seen.forged_answers == [200, 200]  # correctly signed: stored, then refused
    by_reason = {r["reason"]: r for r in seen.refused}
    forged = by_reason["lead_in_other_region"]
    assert forged["region"] == "eu" and forged["connection"] == "sandbox"
    assert set(forged) == REFUSED_RECEIPT_KEYS
    assert _metric(seen.metrics, "lead_in_other_region") == 1.0
    # Nothing was tracked for it: each region holds its own two envelopes and no more.
    assert seen.envelope_regions == ["eu", "eu", "us", "us"]


def test_a_webhook_whose_signer_is_only_a_us_lead_is_refused_at_the_eu_connection(
    seen: Seen,
) -> None:
    reasons = sorted(r["reason"] for r in seen.refused)
    assert reasons == ["lead_in_other_region", "signer_in_other_region"]
    assert _metric(seen.metrics, "signer_in_other_region") == 1.0


def test_nothing_personal_of_one_region_is_found_in_the_other(seen: Seen) -> None:
    run = seen.run
    # Positive controls first: each region's own people reached their own destinations.
    for region in REGIONS:
        records = httpx.get(run.store_url(region, "crm") + "/records", timeout=10).json()
        emails = {r["properties"].get("email") for r in records["results"]}
        assert {p.email for p in of(region)} <= emails
    run.stop_server()  # at rest: the files as the server left them (a log, if any, included)
    for region in REGIONS:
        others = of(other(region))
        database = files(run.data / f"{region}.db")
        backups = files(*sorted(run.backup_dir(region).glob("*.db")))
        assert seen.backups[region] in backups
        stores = files(*(run.root / "stores" / f"{region}-{k}.db" for k in ("crm", "marketing")))
        account = "provider.db" if region == "eu" else "provider-sandbox-us.db"
        provider = files(run.data / "sandbox" / account)
        assert crossings(database + backups + stores + provider, others) == [], region
        outbox = _outbox(run.data / f"{region}.db")
        assert outbox, f"{region} queued nothing"
        assert {destination.split("-")[0] for destination, _ in outbox} == {region}
        assert [p for _, payload in outbox for p in others if _mentions(payload, p)] == []
    log_lines = run.log.read_text(errors="replace").splitlines()
    assert len(log_lines) > 10  # the server did log its work
    leaked = [line for line in log_lines for p in PEOPLE if any(v in line for v in p.values)]
    assert leaked == []


def test_a_regions_own_database_and_backups_hold_its_people_only_encrypted(seen: Seen) -> None:
    run = seen.run
    run.stop_server()
    for region in REGIONS:
        own = of(region)
        at_rest = files(run.data / f"{region}.db", *sorted(run.backup_dir(region).glob("*.db")))
        assert crossings(at_rest, own) == [], region
        # Positive control: the destinations, which hold them in the clear, are searched alike.
        assert crossings(files(run.root / "stores" / f"{region}-crm.db"), own) != []


def _outbox(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [
            (str(d), str(p)) for d, p in conn.execute("SELECT destination, payload FROM outbox")
        ]


def _mentions(payload: str, person: Person) -> bool:
    return any(value in payload for value in person.values)
