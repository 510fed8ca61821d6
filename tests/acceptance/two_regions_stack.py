"""Two regions over real processes, the run the two-region acceptance tests share: ``inkbridge
serve`` with regions ``eu`` (home) and ``us``, the sandbox provider (an account per region's
connection) and a CRM and a marketing tool per region, each declared for its region alone, and
each region's backups in a directory declared for it under the data dir. People with an email,
names and a phone number are captured in both regions (by country, by the site's publishable
key, by an explicit region) and their envelopes signed to completion."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx

from inkbridge.sandbox.crm import create_crm_app
from tests.acceptance.stack import SANDBOX_CRM, base_config, poll_until, secret_ref, write_config
from tests.support.builders import SECRET
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http
from tests.support.served import Served

US_SECRET = "whsec_dXMtcmVnaW9uLXNhbmRib3gtc2VjcmV0LTAx"
REGIONS = ("eu", "us")
KINDS: tuple[Literal["crm", "marketing"], ...] = ("crm", "marketing")
SETTLED = {"delivered", "superseded", "suppressed"}


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    phone: str
    region: str
    # How the capture places the lead (see services.lead_regions).
    placed_by: str

    @property
    def values(self) -> tuple[str, ...]:
        """What must never be found outside its region, nor in plain text anywhere at rest."""
        return (self.email, self.first_name, self.last_name, self.phone)


PEOPLE = (
    Person(
        "ottilie.vandersteen@example.eu",
        *("Ottilie", "Vandersteen", "+49 1523 8870 4419"),
        *("eu", "country"),
    ),
    Person(
        "ines.quaresmafonte@example.eu",
        *("Inesfrida", "Quaresmafonte", "+351 912 604 377"),
        *("eu", "region"),
    ),
    Person(
        "marybeth.kowalczykowski@example.us",
        *("Marybeth", "Kowalczykowski", "+1 415 555 0193"),
        *("us", "country"),
    ),
    Person(
        "delano.witherspoonery@example.us",
        *("Delanoel", "Witherspoonery", "+1 212 555 0148"),
        *("us", "key"),
    ),
)


def of(region: str) -> list[Person]:
    return [p for p in PEOPLE if p.region == region]


def other(region: str) -> str:
    return "us" if region == "eu" else "eu"


@dataclass
class Run:
    """The running deployment and what the run left behind for the tests to look at."""

    root: Path
    config: Path
    port: int
    token: str
    stores: dict[str, Served]  # "eu-crm", "us-marketing", …
    server: Process | None = None
    leads: dict[str, str] = field(default_factory=dict)  # email -> lead id
    envelopes: dict[str, str] = field(default_factory=dict)  # email -> envelope id

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30.0)

    def store_url(self, region: str, kind: str) -> str:
        return self.stores[f"{region}-{kind}"].url

    def backup_dir(self, region: str) -> Path:
        return self.data / "backups" / region

    def cli(self, *args: str) -> str:
        return cli([*args, "--config", str(self.config)])

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An inkbridge command with this config, whatever its exit status."""
        return subprocess.run(
            [*INKBRIDGE, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start_server(self) -> None:
        self.server = Process([*INKBRIDGE, "serve", "--config", str(self.config)], self.log)
        self.server.start()
        wait_http(self.base + "/healthz", proc=self.server.proc)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def log(self) -> Path:
        return self.root / "serve.log"

    def backup(self, region: str) -> Path:
        """``inkbridge backup --region R --to <its declared backup dir>``; the new file."""
        before = set(self.backup_dir(region).glob("*.db"))
        self.cli("backup", "--region", region, "--to", str(self.backup_dir(region)))
        (made,) = set(self.backup_dir(region).glob("*.db")) - before
        return made


def _config(root: Path, port: int, stores: dict[str, Served]) -> Path:
    tree = base_config(root, port)
    tree["log_level"] = "info"  # every line the server writes is searched
    tree["home_region"] = "eu"
    tree["regions"] = {
        region: {"backup_dirs": [str(root / "data" / "backups" / region)]} for region in REGIONS
    }
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
    tree["destinations"] = region_destinations(stores)
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
            "phone": person.phone,
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


def settled(api: httpx.Client, lead_id: str) -> bool:
    """Every delivery about the lead settled (none pending, in flight or dead)."""
    correlation_id = api.get(f"/v1/leads/{lead_id}").json()["correlation_id"]
    deliveries = api.get(f"/v1/trace/{correlation_id}").json()["deliveries"]
    return bool(deliveries) and all(d["status"] in SETTLED for d in deliveries)


def _completed_everywhere(run: Run, api: httpx.Client) -> bool:
    """Every envelope completed, in its region's CRM and marketing tool too, and every
    delivery of every lead settled."""
    for person in PEOPLE:
        envelope_id = run.envelopes[person.email]
        if api.get(f"/v1/envelopes/{envelope_id}").json()["state"] != "completed":
            return False
        for kind in KINDS:
            url = f"{run.store_url(person.region, kind)}/records/envelope:{envelope_id}"
            found = httpx.get(url, timeout=10)
            if found.status_code != 200:
                return False
            if found.json()["properties"].get("inkbridge_status") != "completed":
                return False
        if not settled(api, run.leads[person.email]):
            return False
    return True


@contextmanager
def two_region_run(root: Path) -> Iterator[Run]:
    """Both regions' journeys done on a running server; stopped (with the stores) on exit."""
    stores: dict[str, Served] = {}
    run: Run | None = None
    try:
        for region in REGIONS:
            for kind in KINDS:
                path = root / "stores" / f"{region}-{kind}.db"
                path.parent.mkdir(parents=True, exist_ok=True)
                stores[f"{region}-{kind}"] = served = Served(create_crm_app(path, kind=kind))
                served.start()
        port = free_port()
        config = _config(root, port, stores)
        cli(["migrate", "--config", str(config)])
        token = cli(["tokens", "create", "--config", str(config), "--scope", "admin"]).strip()
        run = Run(root=root, config=config, port=port, token=token, stores=stores)
        us_key = run.cli(
            *("publishable-keys", "create", "--name", "us site"),
            *("--origin", "https://shop.example.us", "--region", "us"),
        ).strip()
        run.start_server()
        with run.api() as api:
            for person in PEOPLE:
                _capture(run, api, person, us_key)
            for person in PEOPLE:
                _sign(run, api, person)
            poll_until(lambda: _completed_everywhere(run, api), "both regions' journeys", 60)
        yield run
    finally:
        if run is not None:
            run.stop_server()
        for served in stores.values():
            served.stop()


def files(*patterns: Path) -> list[Path]:
    """The files named by each pattern, with their ``-wal`` and ``-shm`` companions."""
    found: list[Path] = []
    for pattern in patterns:
        found += [p for p in pattern.parent.glob(pattern.name + "*") if p.is_file()]
    assert found, patterns
    return found


def crossings(paths: list[Path], people: list[Person]) -> list[str]:
    """Which of ``people``'s values are in any of the files' bytes (emails in lower case too)."""
    hits = []
    for path in paths:
        raw = path.read_bytes()
        for person in people:
            for value in {*person.values, person.email.lower()}:
                if value.encode() in raw:
                    hits.append(f"{value} in {path.name}")
    return hits


def region_destinations(stores: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A sandbox CRM and marketing destination per region, each declared for its region alone
    and writing to its own store (``stores`` by ``<region>-<kind>``)."""
    return {
        f"{region}-{kind}": {
            **SANDBOX_CRM,
            "kind": f"sandbox_{kind}",
            "url": stores[f"{region}-{kind}"].url,
            "regions": [region],
        }
        for region in REGIONS
        for kind in KINDS
    }
