"""The six vendor destination emulators, a Standard Webhooks receiver and one inkbridge wired
together for ``test_destinations.py``.

HubSpot, Salesforce, Dynamics 365, Pipedrive, Marketo and Mautic each run as their own process
(``python -m inkbridge_emulators.<vendor> --port N --db PATH``), so one can be killed and started
again on the same port and database. The receiver is a small Starlette app under uvicorn in a
thread that checks every delivery's signature with the ``standardwebhooks`` package. One
``inkbridge serve`` process has the sandbox connection and seven destinations pointed at them,
each with the credentials and options its connector's ``from_settings`` reads, given as
``file:`` secret references in a real ``inkbridge.toml``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.acceptance.provider_stack import Served, wait_for
from tests.support.builders import SECRET, event_body, signed
from tests.support.processes import INKBRIDGE, PYTHON, Process, cli, free_port, wait_http

# Vendor credentials: the emulators' defaults, handed to inkbridge as file: references.
HUBSPOT_TOKEN = "pat-emulator"
SALESFORCE_CLIENT_ID, SALESFORCE_SECRET = "emulator-connected-app", "emulator-secret"
DYNAMICS_TENANT, DYNAMICS_CLIENT_ID, DYNAMICS_SECRET = (
    "emulator-tenant",
    "emulator-app",
    "emulator-secret",
)
PIPEDRIVE_TOKEN = "pipedrive-emulator-token"
MARKETO_CLIENT_ID, MARKETO_SECRET = "marketo-emulator-client", "marketo-emulator-secret"
MAUTIC_CLIENT_ID, MAUTIC_SECRET = "mautic-emulator-client", "mautic-emulator-secret"
MAUTIC_USER, MAUTIC_PASSWORD = "inkbridge", "mautic-emulator-password"

# HubSpot's quota in the emulator and in inkbridge's throttle: 20 requests per 10 s.
HUBSPOT_LIMIT, HUBSPOT_WINDOW = 20, 10.0
# Mautic dead-letters after two attempts, a second or so into an outage.
MAUTIC_MAX_ATTEMPTS = 2

# inkbridge owners and what each CRM calls them.
OWNERS = {
    "hubspot": {"alice": "9001", "bob": "9002"},
    "salesforce": {"alice": "005ALICE0000001", "bob": "005BOB000000001"},
    "dynamics": {
        "alice": "a11ce000-0000-4000-8000-000000000001",
        "bob": "b0b00000-0000-4000-8000-000000000002",
    },
    "pipedrive": {"alice": 101, "bob": 102},
}
PIPEDRIVE_KEY_FIELD = "f3a1c0ffee5eed1d0inkbridgekey0001"
PIPEDRIVE_FIELDS = {
    "envelope_status": "f3a1_status",
    "sent_at": "f3a1_sent_at",
    "first_viewed_at": "f3a1_viewed_at",
    "first_signed_at": "f3a1_signed_at",
    "completed_at": "f3a1_completed_at",
    "declined_at": "f3a1_declined_at",
    "expired_at": "f3a1_expired_at",
    "first_touch_utm_source": "f3a1_ft_source",
    "first_touch_utm_campaign": "f3a1_ft_campaign",
}
MARKETO_LISTS = {"onboarding": 1001, "nurture": 1002}
MARKETO_CAMPAIGNS = {"onboarding": 2001}
MAUTIC_SEGMENTS = {"onboarding": 11, "nurture": 12}
MAUTIC_CAMPAIGNS = {"onboarding": 21}

VENDORS = ("hubspot", "salesforce", "dynamics", "pipedrive", "marketo", "mautic")
OWN_ARGS = ("hubspot", "marketo")  # emulators started with arguments of their own
DESTINATIONS = (*VENDORS, "webhook")
CRMS = ("hubspot", "salesforce", "dynamics", "pipedrive")
MARKETING = ("marketo", "mautic")
STATE_RANK = {
    "created": 0,
    "sent": 1,
    "delivered": 2,
    "viewed": 3,
    "partially_signed": 4,
    "completed": 9,
    "declined": 9,
    "voided": 9,
    "expired": 9,
}
T0 = datetime.now(UTC) - timedelta(hours=2)


def _secret(root: Path, name: str, value: str) -> str:
    path = root / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return f"file:{path}"


# -- a small TOML writer (the standard library reads TOML but does not write it) ---------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_lines(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    """``tree`` as TOML: scalars of a table first, then its sub-tables as ``[a.b]`` sections."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in tree.items() if not isinstance(v, Mapping)]
    for name, sub in tree.items():
        if isinstance(sub, Mapping):
            path = (*prefix, name)
            lines += ["", "[" + ".".join(_key(p) for p in path) + "]"]
            lines += toml_lines(sub, path)
    return lines


# -- the Standard Webhooks receiver -------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One delivery the receiver accepted (its signature verified)."""

    webhook_id: str
    type: str
    data: dict[str, Any]


@dataclass
class Receiver:
    """Verifies every delivery with ``standardwebhooks`` and keeps the valid ones."""

    secret: str
    events: list[Received] = field(default_factory=list)
    invalid: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        verifier = Webhook(self.secret)

        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                message = verifier.verify(body, dict(request.headers))
            except WebhookVerificationError:
                with self._lock:
                    self.invalid += 1
                return JSONResponse({"error": "bad signature"}, status_code=401)
            item = Received(request.headers["webhook-id"], message["type"], message["data"])
            with self._lock:
                self.events.append(item)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.events)


# -- the vendor emulators as processes ----------------------------------------------------------


@dataclass
class Emulator:
    """One vendor emulator process, restartable on the same port and database."""

    vendor: str
    root: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            PYTHON,
            "-m",
            f"inkbridge_emulators.{self.vendor}",
            "--port",
            str(self.port),
            "--db",
            str(self.root / f"{self.vendor}.db"),
            *self.extra,
        ]
        self.process = Process(args, self.root / f"{self.vendor}.log").start()
        wait_http(self.url + "/_state", proc=self.process.proc)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill9()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def state(self) -> dict[str, Any]:
        answer = httpx.get(self.url + "/_state", timeout=30)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def fault(self, mode: str, **extra: Any) -> None:
        answer = httpx.post(self.url + "/_faults", json={"mode": mode, **extra}, timeout=10)
        assert answer.status_code == 200, answer.text


# -- inkbridge ----------------------------------------------------------------------------------


def _common(max_attempts: int = 60, base: float = 0.2, cap: float = 2.0) -> dict[str, Any]:
    return {
        "max_attempts": max_attempts,
        "backoff_base_seconds": base,
        "backoff_cap_seconds": cap,
        "rate_per_second": 100.0,
        "timeout_seconds": 3.0,
    }


def destination_settings(
    root: Path, urls: Mapping[str, str], receiver_url: str, receiver_secret: str
) -> dict[str, Any]:
    """``[destinations.*]``: the seven destinations, each as its ``from_settings`` wants it."""
    return {
        "hubspot": {
            "kind": "hubspot",
            "url": urls["hubspot"],
            "credentials": {"token": _secret(root, "hubspot-token", HUBSPOT_TOKEN)},
            **_common(),
            "rate_limit_requests": HUBSPOT_LIMIT,
            "rate_limit_window_seconds": HUBSPOT_WINDOW,
            "options": {
                "owners": OWNERS["hubspot"],
                "subscriptions": {"marketing_email": 1},
            },
        },
        "salesforce": {
            "kind": "salesforce",
            "url": urls["salesforce"],
            "credentials": {"client_secret": _secret(root, "salesforce-secret", SALESFORCE_SECRET)},
            **_common(),
            "options": {
                "client_id": SALESFORCE_CLIENT_ID,
                "login_url": urls["salesforce"],
                "owners": OWNERS["salesforce"],
            },
        },
        "dynamics": {
            "kind": "dynamics",
            "url": urls["dynamics"],
            "credentials": {"client_secret": _secret(root, "dynamics-secret", DYNAMICS_SECRET)},
            **_common(),
            "options": {
                "tenant_id": DYNAMICS_TENANT,
                "client_id": DYNAMICS_CLIENT_ID,
                "token_url": f"{urls['dynamics']}/{DYNAMICS_TENANT}/oauth2/v2.0/token",
                "owners": OWNERS["dynamics"],
            },
        },
        "pipedrive": {
            "kind": "pipedrive",
            "url": urls["pipedrive"],
            "credentials": {"api_token": _secret(root, "pipedrive-token", PIPEDRIVE_TOKEN)},
            **_common(),
            # Pipedrive's burst window is 20 requests per 2 s.
            "rate_limit_requests": 18,
            "rate_limit_window_seconds": 2.0,
            "fields": PIPEDRIVE_FIELDS,
            "options": {"key_field": PIPEDRIVE_KEY_FIELD, "owners": OWNERS["pipedrive"]},
        },
        "marketo": {
            "kind": "marketo",
            "url": urls["marketo"],
            "role": "marketing",
            "credentials": {"client_secret": _secret(root, "marketo-secret", MARKETO_SECRET)},
            # A longer backoff: a short hold of Marketo must not open its circuit.
            **_common(base=1.0, cap=2.0),
            "fields": {"owner": "inkbridgeOwner"},
            "options": {
                "client_id": MARKETO_CLIENT_ID,
                "journeys": {
                    "onboarding": {
                        "list_id": MARKETO_LISTS["onboarding"],
                        "campaign_id": MARKETO_CAMPAIGNS["onboarding"],
                    },
                    "nurture": {"list_id": MARKETO_LISTS["nurture"]},
                },
            },
        },
        "mautic": {
            "kind": "mautic",
            "url": urls["mautic"],
            "role": "marketing",
            "credentials": {"client_secret": _secret(root, "mautic-secret", MAUTIC_SECRET)},
            **_common(max_attempts=MAUTIC_MAX_ATTEMPTS, base=0.1, cap=0.2),
            "fields": {"owner": "inkbridge_owner"},
            "options": {
                "client_id": MAUTIC_CLIENT_ID,
                "journeys": {
                    "onboarding": {
                        "segment_id": MAUTIC_SEGMENTS["onboarding"],
                        "campaign_id": MAUTIC_CAMPAIGNS["onboarding"],
                    },
                    "nurture": {"segment_id": MAUTIC_SEGMENTS["nurture"]},
                },
            },
        },
        "webhook": {
            "kind": "webhook",
            "role": "webhook",
            "url": receiver_url,
            "secret": _secret(root, "webhook-secret", receiver_secret),
            # The default event stream plus lead updates, so owner changes reach Zapier too.
            "events": [
                "envelope.state_changed",
                "recipient.status_changed",
                "envelope.delivery_failed",
                "envelope.conflict_detected",
                "envelope.conflict_resolved",
                "lead.updated",
            ],
            **_common(),
        },
    }


def write_config(root: Path, port: int, destinations: Mapping[str, Any]) -> Path:
    tree: dict[str, Any] = {
        "data_dir": str(root / "data"),
        "sandbox": True,
        "log_level": "warning",
        "server": {"host": "127.0.0.1", "port": port},
        "worker": {"poll_interval_seconds": 0.05, "lease_seconds": 5.0},
        "regions": {"default": {}},
        "connections": {
            "sandbox": {
                "provider": "sandbox",
                "secrets": [_secret(root, "sandbox-webhook", SECRET)],
            }
        },
        "destinations": destinations,
        "templates": {"nda": {"title": "Mutual non-disclosure agreement", "version": 2}},
    }
    path = root / "inkbridge.toml"
    path.write_text("\n".join(toml_lines(tree)) + "\n", encoding="utf-8")
    return path


EVENT_STATES = {
    "document_sent": "sent",
    "document_viewed": "viewed",
    "recipient_signed": "partially_signed",
    "document_completed": "completed",
    "document_declined": "declined",
    "document_expired": "expired",
}
MILESTONE_OF = {
    "document_sent": "sent_at",
    "document_viewed": "first_viewed_at",
    "recipient_signed": "first_signed_at",
    "document_completed": "completed_at",
    "document_declined": "declined_at",
    "document_expired": "expired_at",
}
SIGNED = ("document_sent", "document_viewed", "recipient_signed", "document_completed")
DECLINED = ("document_sent", "document_viewed", "document_declined")
EXPIRED = ("document_sent", "document_expired")


@dataclass
class Lead:
    id: str
    email: str
    correlation_id: str
    owner: str  # the current owner (``set_owner`` changes it)
    campaign: str  # the first touch's utm_campaign (utm_source is always "newsletter")


@dataclass
class Driven:
    """An envelope taken through ``states`` (in order), with the milestones it must show."""

    envelope_id: str
    ref: str
    lead: Lead
    states: list[str]
    milestones: dict[str, str]
    owner: str  # the lead's owner when the envelope moved: what its CRM record carries

    @property
    def state(self) -> str:
        return self.states[-1]


@dataclass
class DestinationStack:
    root: Path
    port: int
    token: str
    config: Path
    emulators: dict[str, Emulator]
    receiver: Receiver
    served: Served
    server: Process | None = None
    _api: httpx.Client | None = None
    _refs: int = 0
    _minute: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            self._api = httpx.Client(
                base_url=self.base,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30.0,
            )
        return self._api

    def log(self) -> str:
        return self.server.log() if self.server is not None else ""

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
        if self.server is not None:
            self.server.stop()
        for emulator in self.emulators.values():
            emulator.stop()
        self.served.stop()

    # -- leads and consent ----------------------------------------------------------------------

    def lead(
        self,
        name: str,
        owner: str,
        *,
        marketing: bool,
        campaign: str,
        email: str | None = None,
    ) -> Lead:
        """A lead with its first touch (UTM) and consents; ``marketing`` grants marketing_email,
        else only the privacy notice is on record."""
        consents = [{"kind": "privacy_notice", "status": "granted"}]
        if marketing:
            consents.append({"kind": "marketing_email", "status": "granted"})
        email = email or unique_email(name)
        answer = self.api.post(
            "/v1/leads",
            json={
                "email": email,
                "first_name": name.capitalize(),
                "last_name": "Tester",
                "company": f"{name.capitalize()} Ltd",
                "owner": owner,
                "utm_source": "newsletter",
                "utm_medium": "email",
                "utm_campaign": campaign,
                "consents": consents,
            },
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Lead(body["id"], email, body["correlation_id"], owner, campaign)

    def withdraw_marketing(self, lead: Lead) -> None:
        answer = self.api.post(
            "/v1/consents",
            json={"lead_id": lead.id, "kind": "marketing_email", "status": "withdrawn"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"]["marketing_email"] == "withdrawn"

    def set_owner(self, lead: Lead, owner: str) -> None:
        answer = self.api.patch(f"/v1/leads/{lead.id}", json={"owner": owner})
        assert answer.status_code == 200, answer.text
        assert answer.json()["owner"] == owner
        lead.owner = owner

    # -- envelope events (signed sandbox webhooks) ----------------------------------------------

    def new_ref(self) -> str:
        self._refs += 1
        return f"sbx_dest_{self._refs:03d}_{secrets.token_hex(2)}"

    def send(self, ref: str, event: str, lead: Lead, minute: int) -> None:
        """One signed sandbox webhook for ``ref``, linked to ``lead`` by its metadata."""
        recipient = None if event in ("document_sent", "document_expired") else "1"
        body = event_body(
            event,
            ref,
            T0 + timedelta(minutes=minute),
            recipient,
            metadata={"inkbridge_lead_id": lead.id},
        )
        answer = httpx.post(
            self.base + "/v1/webhooks/sandbox", content=body, headers=signed(body), timeout=30
        )
        assert answer.status_code == 200, answer.text

    def envelope_by_ref(self, ref: str) -> dict[str, Any] | None:
        found = self.api.get("/v1/envelopes", params={"provider_envelope_id": ref}).json()
        envelopes = found["envelopes"]
        assert len(envelopes) <= 1, envelopes
        return envelopes[0] if envelopes else None

    def wait_state(self, ref: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            view = self.envelope_by_ref(ref)
            return view if view is not None and view["state"] == state else None

        return wait_for(reached, f"envelope {ref} in state {state!r}", timeout)

    def drive(self, lead: Lead, events: Iterable[str], ref: str | None = None) -> Driven:
        """Send ``events`` for a new envelope of ``lead`` (or the one at ``ref``), each once the
        previous one is applied."""
        ref = ref or self.new_ref()
        view: dict[str, Any] | None = None
        milestones: dict[str, str] = {}
        states: list[str] = []
        for event in events:
            minute = self._minute
            self._minute += 10
            self.send(ref, event, lead, minute)
            view = self.wait_state(ref, EVENT_STATES[event])
            states.append(EVENT_STATES[event])
            milestones.setdefault(MILESTONE_OF[event], (T0 + timedelta(minutes=minute)).isoformat())
        assert view is not None
        return Driven(str(view["id"]), ref, lead, states, milestones, lead.owner)

    def carry_on(self, driven: Driven, events: Iterable[str]) -> Driven:
        """More events for an envelope already driven part of the way."""
        more = self.drive(driven.lead, events, ref=driven.ref)
        assert more.envelope_id == driven.envelope_id
        return Driven(
            driven.envelope_id,
            driven.ref,
            driven.lead,
            [*driven.states, *more.states],
            {**driven.milestones, **more.milestones},
            more.owner,
        )

    # -- the outbox -----------------------------------------------------------------------------

    def deliveries(self, lead: Lead) -> list[dict[str, Any]]:
        """Every outbox row of the lead's correlation id (its record, envelopes and journeys)."""
        answer = self.api.get(f"/v1/trace/{lead.correlation_id}")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["deliveries"])

    def settled(self, leads: Iterable[Lead], destinations: Iterable[str] = DESTINATIONS) -> bool:
        wanted = set(destinations)
        return all(
            d["status"] not in ("pending", "inflight")
            for lead in leads
            for d in self.deliveries(lead)
            if d["destination"] in wanted
        )

    def wait_settled(
        self,
        leads: Iterable[Lead],
        destinations: Iterable[str] = DESTINATIONS,
        timeout: float = 60.0,
    ) -> None:
        leads, destinations = list(leads), list(destinations)

        def done() -> bool:
            return self.settled(leads, destinations)

        try:
            wait_for(done, f"the outbox of {len(leads)} leads to settle", timeout)
        except AssertionError:
            open_rows = [
                (d["destination"], d["fact"], d["status"], d["attempts"][-1:])
                for lead in leads
                for d in self.deliveries(lead)
                if d["status"] in ("pending", "inflight") and d["destination"] in destinations
            ]
            raise AssertionError(f"outbox not settled: {open_rows}\n{self.log()}") from None

    def dead_letters(self, destination: str | None = None) -> list[dict[str, Any]]:
        params = {"destination": destination} if destination else {}
        answer = self.api.get("/v1/admin/dead-letters", params=params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["dead_letters"])

    def replay(self, destination: str) -> int:
        answer = self.api.post("/v1/admin/dead-letters/replay", json={"destination": destination})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["replayed"])


def unique_email(name: str) -> str:
    return f"{name}.{secrets.token_hex(3)}@example.test"


def _seed_marketo(url: str, email: str, fields: Mapping[str, str]) -> None:
    token = httpx.post(
        url + "/identity/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": MARKETO_CLIENT_ID,
            "client_secret": MARKETO_SECRET,
        },
        timeout=10,
    ).json()["access_token"]
    answer = httpx.post(
        url + "/rest/v1/leads.json",
        json={
            "action": "createOrUpdate",
            "lookupField": "email",
            "input": [{"email": email, **fields}],
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert answer["success"] and answer["result"][0]["status"] == "created", answer


def _seed_mautic(url: str, email: str, fields: Mapping[str, str]) -> None:
    basic = base64.b64encode(f"{MAUTIC_USER}:{MAUTIC_PASSWORD}".encode()).decode()
    answer = httpx.post(
        url + "/api/contacts/batch/new",
        json=[{"email": email, **fields}],
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert answer.status_code == 201 and answer.json()["statusCodes"] == [201], answer.text


def seed_first_touch(stack: DestinationStack, email: str, value: str) -> None:
    """Records a tool other than inkbridge wrote before inkbridge knew the lead: the lead's
    first-touch source is already set (to ``value``) in Marketo and Mautic."""
    _seed_marketo(stack.emulators["marketo"].url, email, {"inkbridgeFirstTouchUtmSource": value})
    _seed_mautic(stack.emulators["mautic"].url, email, {"inkbridge_first_touch_utm_source": value})


def start_destination_stack(root: Path) -> DestinationStack:
    root.mkdir(parents=True, exist_ok=True)
    emulators = {
        "hubspot": Emulator("hubspot", root, extra=("--rate-limit-per-10s", str(HUBSPOT_LIMIT))),
        # A larger Marketo subscription than the default 100 calls per 20 s: the Marketo
        # connector spends two calls per lead and round, and the quota under test is HubSpot's.
        "marketo": Emulator("marketo", root, extra=("--calls-per-20s", "1000")),
        **{vendor: Emulator(vendor, root) for vendor in VENDORS if vendor not in OWN_ARGS},
    }
    receiver_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    receiver = Receiver(receiver_secret)
    served = Served(receiver.app())
    stack: DestinationStack | None = None
    try:
        served.start()
        for emulator in emulators.values():
            emulator.start()
        port = free_port()
        destinations = destination_settings(
            root,
            {name: e.url for name, e in emulators.items()},
            served.url + "/hooks",
            receiver_secret,
        )
        config = write_config(root, port, destinations)
        cli(["migrate", "--config", str(config)])
        token = cli(["tokens", "create", "--config", str(config), "--scope", "admin"]).strip()
        stack = DestinationStack(root, port, token, config, emulators, receiver, served)
        stack.server = Process(
            [*INKBRIDGE, "serve", "--config", str(config)], root / "serve.log"
        ).start()
        wait_http(stack.base + "/healthz", proc=stack.server.proc)
        return stack
    except BaseException:
        if stack is not None:
            stack.stop()
        else:
            for emulator in emulators.values():
                emulator.stop()
            served.stop()
        raise


def poll_until(
    condition: Callable[[], Any], what: str, timeout: float = 30.0, every: float = 0.1
) -> Any:
    """Like ``wait_for`` but with a slower poll, for conditions that read several emulators."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


# -- reading the destinations: one normalized view per vendor -----------------------------------

MILESTONES = (
    "sent_at",
    "first_viewed_at",
    "first_signed_at",
    "completed_at",
    "declined_at",
    "expired_at",
)
SALESFORCE_MILESTONES = {
    "sent_at": "Sent_Date_Time__c",
    "first_viewed_at": "Viewed_Date_Time__c",
    "first_signed_at": "Signed_Date_Time__c",
    "completed_at": "Completed_Date_Time__c",
    "declined_at": "Declined_Date_Time__c",
    "expired_at": "Expired_Date_Time__c",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class RecordView:
    """What one destination holds about one envelope and its lead, in inkbridge's terms.

    ``records``: how many envelope records carry the envelope id (1, or the lead record of a
    marketing tool); ``people``: how many person records carry the lead's email; ``linked``:
    whether the envelope record points at the person; ``owner``: the owner on the envelope
    record (CRMs), ``person_owner`` the one on the person; ``first_touch``: source and campaign.
    """

    status: str | None
    milestones: dict[str, str]
    records: int
    people: int
    linked: bool
    owner: Any
    person_owner: Any
    first_touch: dict[str, Any]


def snapshot(stack: DestinationStack, destination: str) -> Any:
    """Everything a destination holds now (the receiver's deliveries for ``webhook``)."""
    if destination == "webhook":
        return stack.receiver.received()
    return stack.emulators[destination].state()


def _one(items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[0] if items else {}


def record_view(destination: str, snap: Any, envelope_id: str, email: str) -> RecordView:
    email = email.lower()
    if destination == "hubspot":
        objects = snap["objects"]
        people = [c for c in objects.get("contacts", []) if c.get("email") == email]
        deals = [
            d for d in objects.get("deals", []) if d.get("inkbridge_envelope_id") == envelope_id
        ]
        person, deal = _one(people), _one(deals)
        link = {
            "from": ["contacts", person.get("hs_object_id")],
            "to": ["deals", deal.get("hs_object_id")],
        }
        return RecordView(
            deal.get("inkbridge_status"),
            {m: deal[f"inkbridge_{m}"] for m in MILESTONES if deal.get(f"inkbridge_{m}")},
            len(deals),
            len(people),
            link in snap["associations"],
            deal.get("hubspot_owner_id"),
            person.get("hubspot_owner_id"),
            {
                "utm_source": person.get("inkbridge_first_touch_utm_source"),
                "utm_campaign": person.get("inkbridge_first_touch_utm_campaign"),
            },
        )
    if destination == "salesforce":
        objects = snap["objects"]
        people = [p for p in objects.get("Lead", []) if str(p.get("Email")).lower() == email]
        rows = [
            e
            for e in objects.get("Inkbridge_Envelope__c", [])
            if e.get("Inkbridge_Envelope_Id__c") == envelope_id
        ]
        person, row = _one(people), _one(rows)
        return RecordView(
            row.get("Envelope_Status__c"),
            {m: row[f] for m, f in SALESFORCE_MILESTONES.items() if row.get(f)},
            len(rows),
            len(people),
            bool(person) and row.get("Lead__c") == person.get("Id"),
            row.get("OwnerId"),
            person.get("OwnerId"),
            {
                "utm_source": person.get("Inkbridge_First_Touch_Utm_Source__c"),
                "utm_campaign": person.get("Inkbridge_First_Touch_Utm_Campaign__c"),
            },
        )
    if destination == "dynamics":
        objects = snap["objects"]
        people = [
            c for c in objects.get("contacts", []) if str(c.get("emailaddress1")).lower() == email
        ]
        rows = [
            e
            for e in objects.get("inkbridge_envelopestatuses", [])
            if e.get("inkbridge_envelopeid") == envelope_id
        ]
        person, row = _one(people), _one(rows)
        columns = {m: "inkbridge_" + m.replace("_", "") for m in MILESTONES}
        return RecordView(
            row.get("inkbridge_status"),
            {m: row[c] for m, c in columns.items() if row.get(c)},
            len(rows),
            len(people),
            bool(person) and row.get("_inkbridge_contact_value") == person.get("contactid"),
            row.get("_ownerid_value"),
            person.get("_ownerid_value"),
            {
                "utm_source": person.get("inkbridge_firsttouch_utmsource"),
                "utm_campaign": person.get("inkbridge_firsttouch_utmcampaign"),
            },
        )
    if destination == "pipedrive":
        people = [
            p
            for p in snap["persons"]
            if email in {str(e.get("value")).lower() for e in p.get("emails") or []}
        ]
        deals = [
            d for d in snap["deals"] if d["custom_fields"].get(PIPEDRIVE_KEY_FIELD) == envelope_id
        ]
        person, deal = _one(people), _one(deals)
        custom = deal.get("custom_fields", {})
        return RecordView(
            custom.get(PIPEDRIVE_FIELDS["envelope_status"]),
            {m: custom[PIPEDRIVE_FIELDS[m]] for m in MILESTONES if custom.get(PIPEDRIVE_FIELDS[m])},
            len(deals),
            len(people),
            bool(person) and deal.get("person_id") == person.get("id"),
            deal.get("owner_id"),
            person.get("owner_id"),
            {
                "utm_source": custom.get(PIPEDRIVE_FIELDS["first_touch_utm_source"]),
                "utm_campaign": custom.get(PIPEDRIVE_FIELDS["first_touch_utm_campaign"]),
            },
        )
    if destination == "marketo":
        people = [lead for lead in snap["leads"] if str(lead.get("email")).lower() == email]
        person = _one(people)
        mine = person.get("inkbridgeEnvelopeId") == envelope_id
        return RecordView(
            person.get("inkbridgeEnvelopeStatus") if mine else None,
            {
                m: person[_camel("inkbridge_" + m)]
                for m in MILESTONES
                if mine and person.get(_camel("inkbridge_" + m))
            },
            int(mine),
            len(people),
            mine,
            None,
            person.get("inkbridgeOwner"),
            {
                "utm_source": person.get("inkbridgeFirstTouchUtmSource"),
                "utm_campaign": person.get("inkbridgeFirstTouchUtmCampaign"),
            },
        )
    if destination == "mautic":
        people = [
            c["fields"]["all"]
            for c in snap["contacts"]
            if str(c["fields"]["all"].get("email")).lower() == email
        ]
        person = _one(people)
        mine = person.get("inkbridge_envelope_id") == envelope_id
        return RecordView(
            person.get("inkbridge_envelope_status") if mine else None,
            {
                m: person[f"inkbridge_{m}"]
                for m in MILESTONES
                if mine and person.get(f"inkbridge_{m}")
            },
            int(mine),
            len(people),
            mine,
            None,
            person.get("inkbridge_owner"),
            {
                "utm_source": person.get("inkbridge_first_touch_utm_source"),
                "utm_campaign": person.get("inkbridge_first_touch_utm_campaign"),
            },
        )
    assert destination == "webhook"
    changes = state_changes(snap, envelope_id)
    about_lead = [
        e for e in snap if str((e.data.get("lead") or {}).get("email", "")).lower() == email
    ]
    last = changes[-1].data if changes else {}
    lead = (about_lead[-1].data.get("lead") or {}) if about_lead else {}
    first = lead.get("first_touch") or {}
    return RecordView(
        (last.get("envelope") or {}).get("state"),
        dict((last.get("envelope") or {}).get("milestones") or {}),
        int(bool(changes)),
        int(bool(lead)),
        bool(changes) and (last.get("lead") or {}).get("email", "").lower() == email,
        None,
        lead.get("owner"),
        {"utm_source": first.get("utm_source"), "utm_campaign": first.get("utm_campaign")},
    )


def state_changes(received: list[Received], envelope_id: str) -> list[Received]:
    """The receiver's ``envelope.state_changed`` deliveries for one envelope, as they came."""
    return [
        e
        for e in received
        if e.type == "envelope.state_changed"
        and (e.data.get("envelope") or {}).get("id") == envelope_id
    ]


def vendor_owner(destination: str, owner: str) -> Any:
    """How a destination writes an inkbridge owner: the CRM's user id, or the name itself."""
    return OWNERS[destination][owner] if destination in OWNERS else owner
