"""The six vendor destination emulators, a Standard Webhooks receiver and one inkbridge wired
together for the tests in ``destinations/``.

HubSpot, Salesforce, Dynamics 365, Pipedrive, Marketo and Mautic each run as their own process,
so one can be killed and started again on the same port and database. The receiver is a small
Starlette app under uvicorn in a thread that checks every delivery's signature with the
``standardwebhooks`` package. One ``inkbridge serve`` process has the sandbox connection and
seven destinations pointed at them (``destination_vendors.py``); tests drive envelopes with
signed sandbox webhooks and read each destination through ``destination_views.py``.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.destination_vendors import (
    DESTINATIONS,
    HUBSPOT_LIMIT,
    MARKETO_CLIENT_ID,
    MARKETO_SECRET,
    MAUTIC_PASSWORD,
    MAUTIC_USER,
    OWN_ARGS,
    VENDORS,
    Emulator,
    Receiver,
    destination_settings,
)
from tests.acceptance.stack import (
    Inkbridge,
    admin_token,
    base_config,
    launch,
    wait_for,
    write_config,
)
from tests.support.builders import event_body, signed
from tests.support.processes import free_port
from tests.support.served import Served

T0 = datetime.now(UTC) - timedelta(hours=2)

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


@dataclass(kw_only=True)
class DestinationStack(Inkbridge):
    """inkbridge with the six destination emulators and the webhook receiver."""

    config: Path
    emulators: dict[str, Emulator]
    receiver: Receiver
    served: Served
    _refs: int = 0
    _minute: int = 0

    def stop_fakes(self) -> None:
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


def start_destination_stack(
    root: Path, destinations: Mapping[str, Mapping[str, Any]] | None = None
) -> DestinationStack:
    """The stack; ``destinations`` adds ``[destinations.*]`` tables, or keys of one."""
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
    with ExitStack() as started:
        served.start()
        started.callback(served.stop)
        for emulator in emulators.values():
            emulator.start()
            started.callback(emulator.stop)
        port = free_port()
        tree = base_config(root, port)
        tree["destinations"] = destination_settings(
            root,
            {name: e.url for name, e in emulators.items()},
            served.url + "/hooks",
            receiver_secret,
        )
        for name, table in (destinations or {}).items():
            tree["destinations"][name] = {**tree["destinations"].get(name, {}), **table}
        config = write_config(root, tree)
        stack = DestinationStack(
            root=root,
            port=port,
            token=admin_token(config),
            config=config,
            emulators=emulators,
            receiver=receiver,
            served=served,
        )
        return launch(stack, config, started)
    raise AssertionError("unreachable")  # ExitStack may swallow exceptions, as far as mypy knows


def snapshot(stack: DestinationStack, destination: str) -> Any:
    """Everything a destination holds now (the receiver's deliveries for ``webhook``)."""
    if destination == "webhook":
        return stack.receiver.received()
    return stack.emulators[destination].state()
