"""The six destination vendors of the destination acceptance tests and the Standard Webhooks
receiver: credentials (the emulators' defaults), owners and field maps, each emulator as its own
restartable process (``python -m inkbridge_emulators.<vendor> --port N --db PATH``), and the
``[destinations.*]`` tables that point inkbridge's connectors at them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.acceptance.stack import secret_ref
from tests.support.processes import PYTHON, Process, free_port, wait_http

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

# -- the Standard Webhooks receiver -------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One delivery the receiver accepted (its signature verified)."""

    webhook_id: str
    type: str
    data: dict[str, Any]


@dataclass
class Receiver:
    """Verifies every delivery with ``standardwebhooks`` and keeps the valid ones; while
    ``failures`` is above zero, a delivery is answered 503 instead (and counted down)."""

    secret: str
    events: list[Received] = field(default_factory=list)
    invalid: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        verifier = Webhook(self.secret)

        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                failing, self.failures = self.failures > 0, max(0, self.failures - 1)
            if failing:
                return JSONResponse({"error": "unavailable"}, status_code=503)
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
        self.state()  # this emulator's own answer, not another server's on a shared port

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
            "credentials": {"token": secret_ref(root, "hubspot-token", HUBSPOT_TOKEN)},
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
            "credentials": {
                "client_secret": secret_ref(root, "salesforce-secret", SALESFORCE_SECRET)
            },
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
            "credentials": {"client_secret": secret_ref(root, "dynamics-secret", DYNAMICS_SECRET)},
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
            "credentials": {"api_token": secret_ref(root, "pipedrive-token", PIPEDRIVE_TOKEN)},
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
            "credentials": {"client_secret": secret_ref(root, "marketo-secret", MARKETO_SECRET)},
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
            "credentials": {"client_secret": secret_ref(root, "mautic-secret", MAUTIC_SECRET)},
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
            "secret": secret_ref(root, "webhook-secret", receiver_secret),
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
