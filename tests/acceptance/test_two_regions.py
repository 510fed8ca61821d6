"""Two regions sealed, end to end over real processes: ``inkbridge serve`` with regions ``eu``
(home) and ``us``, the sandbox provider (an account per region's connection) and a CRM and a
marketing tool per region, each declared for its region alone. Leads are captured in both (by
country, by the site's publishable key, by an explicit region), their envelopes are signed to
completion, and two forged webhooks arrive at the ``eu`` connection, correctly signed with its
secret: one naming a ``us`` envelope and lead, one whose signer is only a ``us`` lead. Both are
refused and shown to the operator; and no byte of one region's emails or names is found in the
other region's database files (write-ahead log included), outbox rows, destinations' stores or
sandbox provider account, nor in any line the server logged."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from inkbridge.sandbox.crm import create_crm_app
from tests.acceptance.stack import (
    SANDBOX_CRM,
    base_config,
    poll_until,
    secret_ref,
    write_config,
)
from tests.support.builders import SECRET, event_body, signed
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http
from tests.support.served import Served

pytestmark = pytest.mark.slow

US_SECRET = "whsec_dXMtcmVnaW9uLXNhbmRib3gtc2VjcmV0LTAx"
REGIONS = ("eu", "us")
KINDS: tuple[Literal["crm", "marketing"], ...] = ("crm", "marketing")
CONNECTIONS = {"eu": "sandbox", "us": "sandbox-us"}
SETTLED = {"delivered", "superseded", "suppressed"}


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    region: str
    # How the capture places the lead (see services.lead_regions).
    placed_by: str

    @property
    def values(self) -> tuple[str, ...]:
        return (self.email, self.first_name, self.last_name)


PEOPLE = (
    Person("ottilie.vandersteen@example.eu", "Ottilie", "Vandersteen", "eu", "country"),
    Person("ines.quaresmafonte@example.eu", "Inesfrida", "Quaresmafonte", "eu", "region"),
    Person("marybeth.kowalczykowski@example.us", "Marybeth", "Kowalczykowski", "us", "country"),
    Person("delano.witherspoonery@example.us", "Delanoel", "Witherspoonery", "us", "key"),
)


def _of(region: str) -> list[Person]:
    return [p for p in PEOPLE if p.region == region]


def _other(region: str) -> str:
    return "us" if region == "eu" else "eu"


@dataclass
class Run:
    """What the run left behind for the tests to look at."""

    root: Path
    base: str
    token: str
    server: Process
    stores: dict[str, Served]  # "eu-crm", "us-marketing", …
    leads: dict[str, str] = field(default_factory=dict)  # email -> lead id
    envelopes: dict[str, str] = field(default_factory=dict)  # email -> envelope id
    refused: list[dict[str, Any]] = field(default_factory=list)
    metrics: str = ""
    forged_answers: list[int] = field(default_factory=list)
    envelope_regions: list[str] = field(default_factory=list)  # of every envelope, after all

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=30.0)

    def store_url(self, region: str, kind: str) -> str:
        return self.stores[f"{region}-{kind}"].url


def _config(root: Path, port: int, stores: dict[str, Served]) -> Path:
    tree = base_config(root, port)
    tree["log_level"] = "info"  # every line the server writes is searched
    tree["home_region"] = "eu"
    tree["regions"] = {region: {} for region in REGIONS}
    tree["connections"] = {
        "sandbox": {
            "provider": "sandbox",
            "region": "eu",
            "secrets": [secret_ref(root, "sandbox-eu", SECRET)],
        },
        "sandbox-us": {
            "provider": "sandbox",
            "region": "us",
            "secrets": [secret_ref(root, "sandbox-us", US_SECRET)],
        },
    }
    tree["destinations"] = {
        f"{region}-{kind}": {
            **SANDBOX_CRM,
            "kind": f"sandbox_{kind}",
            "url": stores[f"{region}-{kind}"].url,
            "regions": [region],
        }
        for region in REGIONS
        for kind in ("crm", "marketing")
    }
    tree["residency"] = {"countries": {"DE": "eu", "US": "us"}}
    return write_config(root, tree)


def _capture(run: Run, api: httpx.Client, person: Person, us_key: str) -> None:
    placement = {
        "country": {"country": "DE" if person.region == "eu" else "US"},
        "region": {"region": person.region},
        "key": {"publishable_key": us_key},
    }[person.placed_by]
    answer = api.post(
        "/v1/leads",
        json={
            "email": person.email,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "utm_source": "newsletter",
            "utm_campaign": f"launch-{person.region}",
            "consents": [{"kind": "marketing_email", "status": "granted"}],
            **placement,
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["region"] == person.region
    run.leads[person.email] = answer.json()["id"]


def _sign(run: Run, api: httpx.Client, person: Person) -> None:
    """Create the person's envelope and sign it through a verified signer session."""
    created = api.post(
        "/v1/envelopes", json={"lead_id": run.leads[person.email], "template_key": "nda"}
    )
    assert created.status_code == 201, created.text
    envelope_id = created.json()["id"]
    run.envelopes[person.email] = envelope_id
    session = api.post(
        f"/v1/envelopes/{envelope_id}/signing-session",
        json={
            "email": person.email,
            "subject": f"user-{person.last_name.lower()}",
            "auth_method": "password",
            "authenticated_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
    )
    assert session.status_code == 200, session.text
    opened = httpx.get(session.json()["url"], timeout=10)
    assert opened.status_code == 303, opened.text
    browser = {"cookie": opened.headers["set-cookie"].split(";", 1)[0]}
    page_url = opened.headers["location"]
    # Each region's envelopes are in that region's sandbox account.
    account = "/sandbox/provider/" if person.region == "eu" else "/sandbox/providers/sandbox-us/"
    assert page_url.startswith(run.base + account), page_url
    assert httpx.get(page_url, headers=browser, timeout=10).status_code == 200
    signed_page = httpx.post(page_url + "/sign", headers=browser, timeout=10)
    assert signed_page.status_code in (200, 303), signed_page.text


def _completed_everywhere(run: Run, api: httpx.Client) -> bool:
    """Every envelope completed, in its region's CRM and marketing tool too, and every
    delivery of every lead settled."""
    for person in PEOPLE:
        envelope_id = run.envelopes[person.email]
        if api.get(f"/v1/envelopes/{envelope_id}").json()["state"] != "completed":
            return False
        for kind in ("crm", "marketing"):
            url = f"{run.store_url(person.region, kind)}/records/envelope:{envelope_id}"
            found = httpx.get(url, timeout=10)
            if found.status_code != 200:
                return False
            if found.json()["properties"].get("inkbridge_status") != "completed":
                return False
        correlation_id = api.get(f"/v1/leads/{run.leads[person.email]}").json()["correlation_id"]
        deliveries = api.get(f"/v1/trace/{correlation_id}").json()["deliveries"]
        if not deliveries or any(d["status"] not in SETTLED for d in deliveries):
            return False
    return True


def _forge(run: Run, body: bytes) -> None:
    """POST ``body`` at the eu connection, signed with the eu connection's own secret."""
    answer = httpx.post(
        f"{run.base}/v1/webhooks/sandbox", content=body, headers=signed(body), timeout=10
    )
    run.forged_answers.append(answer.status_code)


def _forge_both(run: Run) -> None:
    us_person, us_other = _of("us")
    now = datetime.now(UTC)
    # Names a us envelope and its lead (and carries the us signer's email).
    _forge(
        run,
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
        run,
        event_body(
            "recipient_signed",
            f"sbx_by_hand_{uuid.uuid4().hex[:8]}",
            now,
            "1",
            recipient_email=us_other.email,
        ),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("two_regions")
    stores: dict[str, Served] = {}
    for region in REGIONS:
        for kind in KINDS:
            path = root / "stores" / f"{region}-{kind}.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            served = Served(create_crm_app(path, kind=kind))
            served.start()
            stores[f"{region}-{kind}"] = served
    port = free_port()
    config = _config(root, port, stores)
    server: Process | None = None
    try:
        cli(["migrate", "--config", str(config)])
        token = cli(["tokens", "create", "--config", str(config), "--scope", "admin"]).strip()
        us_key = cli(
            [
                *("publishable-keys", "create", "--config", str(config), "--name", "us site"),
                *("--origin", "https://shop.example.us", "--region", "us"),
            ]
        ).strip()
        server = Process([*INKBRIDGE, "serve", "--config", str(config)], root / "serve.log")
        server.start()
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", proc=server.proc)
        run = Run(root=root, base=base, token=token, server=server, stores=stores)
        with run.api() as api:
            for person in PEOPLE:
                _capture(run, api, person, us_key)
            for person in PEOPLE:
                _sign(run, api, person)
            poll_until(lambda: _completed_everywhere(run, api), "both regions' journeys", 60)
            _forge_both(run)
            run.refused = poll_until(
                lambda: _refused_listing(api, expected=2), "two refused receipts", 30
            )
            run.metrics = httpx.get(base + "/metrics", timeout=10).text
            listed = api.get("/v1/envelopes", params={"limit": 50}).json()["envelopes"]
            run.envelope_regions = sorted(e["region"] for e in listed)
        yield run
    finally:
        if server is not None:
            server.stop()
        for served in stores.values():
            served.stop()


def _refused_listing(api: httpx.Client, expected: int) -> list[dict[str, Any]] | None:
    answer = api.get("/v1/admin/receipts", params={"status": "refused_residency"})
    assert answer.status_code == 200, answer.text
    found = list(answer.json()["receipts"])
    return found if len(found) >= expected else None


def _metric(text: str, reason: str) -> float:
    prefix = f'inkbridge_receipts_refused_residency_total{{reason="{reason}",region="eu"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


def test_a_forged_webhook_naming_a_us_envelope_and_lead_is_refused_and_visible(run: Run) -> None:
    assert run.forged_answers == [200, 200]  # correctly signed: stored, then refused
    by_reason = {r["reason"]: r for r in run.refused}
    forged = by_reason["lead_in_other_region"]
    assert forged["region"] == "eu" and forged["connection"] == "sandbox"
    assert set(forged) == {
        "id",
        "region",
        "connection",
        "source",
        "status",
        "reason",
        "received_at",
        "processed_at",
    }
    assert _metric(run.metrics, "lead_in_other_region") == 1.0
    # Nothing was tracked for it: each region holds its own two envelopes and no more.
    assert run.envelope_regions == ["eu", "eu", "us", "us"]


def test_a_webhook_whose_signer_is_only_a_us_lead_is_refused_at_the_eu_connection(
    run: Run,
) -> None:
    reasons = sorted(r["reason"] for r in run.refused)
    assert reasons == ["lead_in_other_region", "signer_in_other_region"]
    assert _metric(run.metrics, "signer_in_other_region") == 1.0


def _files(*patterns: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        found += [p for p in pattern.parent.glob(pattern.name + "*") if p.is_file()]
    assert found, patterns
    return found


def _crossings(paths: list[Path], people: list[Person]) -> list[str]:
    """Which of ``people``'s values are in any of the files' bytes (emails in lower case too)."""
    hits = []
    for path in paths:
        raw = path.read_bytes()
        for person in people:
            for value in {*person.values, person.email.lower()}:
                if value.encode() in raw:
                    hits.append(f"{value} in {path.name}")
    return hits


def test_nothing_personal_of_one_region_is_found_in_the_other(run: Run) -> None:
    # Positive controls first: each region's own people reached their own destinations.
    for region in REGIONS:
        records = httpx.get(run.store_url(region, "crm") + "/records", timeout=10).json()
        emails = {r["properties"].get("email") for r in records["results"]}
        assert {p.email for p in _of(region)} <= emails
    run.server.stop()  # at rest: the files as the server left them (a log, if any, included)
    data = run.root / "data"
    for region in REGIONS:
        other = _of(_other(region))
        database = _files(data / f"{region}.db")
        stores = _files(*(run.root / "stores" / f"{region}-{k}.db" for k in ("crm", "marketing")))
        account = "provider.db" if region == "eu" else "provider-sandbox-us.db"
        provider = _files(data / "sandbox" / account)
        assert _crossings(database + stores + provider, other) == [], region
        outbox = _outbox(data / f"{region}.db")
        assert outbox, f"{region} queued nothing"
        assert {destination.split("-")[0] for destination, _ in outbox} == {region}
        assert [p for _, payload in outbox for p in other if _mentions(payload, p)] == []
    log_lines = (run.root / "serve.log").read_text(errors="replace").splitlines()
    assert len(log_lines) > 10  # the server did log its work
    leaked = [line for line in log_lines for p in PEOPLE if any(v in line for v in p.values)]
    assert leaked == []


def _outbox(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [
            (str(d), str(p)) for d, p in conn.execute("SELECT destination, payload FROM outbox")
        ]


def _mentions(payload: str, person: Person) -> bool:
    return any(value in payload for value in person.values)
