"""The six vendor emulators and one inkbridge wired together for the tests in ``providers/``.

Each emulator (DocuSign, Dropbox Sign, Acrobat Sign, PandaDoc, Documenso, DocuSeal) is served by
uvicorn in a thread on its own free 127.0.0.1 port and delivers its webhooks to a real
``inkbridge serve`` process, whose ``inkbridge.toml`` names one connection per vendor: its webhook
secrets (``file:`` references) and its API pointed at the emulator, so envelopes are created
through inkbridge's real clients. Every webhook an emulator sends is recorded together with
inkbridge's answer, so tests can check the acknowledgement and send exact copies, tampered copies
or correctly signed forgeries of it by hand (``provider_traffic.py``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.provider_traffic import Delivery, Outgoing, Recorder
from tests.acceptance.provider_vendors import (
    PROVIDERS,
    Vendor,
    build_emulator,
    write_provider_config,
)
from tests.acceptance.stack import Inkbridge, ada_lead, admin_token, launch, wait_for
from tests.support.keys import rsa_pem
from tests.support.processes import free_port
from tests.support.served import Served


@dataclass(kw_only=True)
class ProviderStack(Inkbridge):
    """inkbridge with the six provider emulators and the record of their webhooks."""

    recorder: Recorder
    vendors: dict[str, Vendor]
    _completed: dict[str, dict[str, Any]] = field(default_factory=dict)
    _leads: int = 0

    def hook(self, provider: str) -> str:
        return f"{self.base}/v1/webhooks/{provider}"

    def stop_fakes(self) -> None:
        for vendor in self.vendors.values():
            vendor.served.stop()

    # The /v1 API.

    def create_envelope(self, provider: str) -> dict[str, Any]:
        """A new lead, and an envelope for it created at ``provider`` through inkbridge."""
        self._leads += 1
        lead = self.api.post(
            "/v1/leads",
            json=ada_lead(
                f"ada.{provider}.{self._leads}@example.test",
                campaign="provider-acceptance",
                consent="privacy_notice",
            ),
        )
        assert lead.status_code == 201, lead.text
        created = self.api.post(
            "/v1/envelopes",
            json={
                "lead_id": lead.json()["id"],
                "template_key": f"{provider}_nda",
                "connection": provider,
            },
        )
        assert created.status_code == 201, f"{created.status_code} {created.text}\n{self.log()}"
        view: dict[str, Any] = created.json()
        assert view["provider"] == provider and view["provider_envelope_id"], view
        return view

    def sent(self, provider: str) -> dict[str, Any]:
        """A new envelope at ``provider`` (``create_envelope``), once inkbridge has it sent."""
        view = self.create_envelope(provider)
        self.wait_envelope(view["id"], lambda v: v["state"] == "sent", "state 'sent'")
        return view

    def envelope(self, envelope_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/envelopes/{envelope_id}")
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    def wait_envelope(
        self,
        envelope_id: str,
        condition: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            view = self.envelope(envelope_id)
            return view if condition(view) else None

        try:
            return wait_for(check, f"{what} (envelope {envelope_id})", timeout)
        except AssertionError as exc:
            view = self.envelope(envelope_id)
            summary = {k: view[k] for k in ("state", "needs_reconcile", "conflicts")}
            timeline = [
                (e["vendor_event"], e["outcome"], e["to_state"], e["receipt_id"])
                for e in view["timeline"]
            ]
            raise AssertionError(f"{exc}\n{summary}\ntimeline: {timeline}") from None

    def wait_state(self, envelope_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        """The envelope once it is in ``state`` with nothing left for reconciliation to do."""
        return self.wait_envelope(
            envelope_id,
            lambda v: v["state"] == state and not v["needs_reconcile"],
            f"state {state!r}",
            timeout,
        )

    def receipt_sources(self, correlation_id: str) -> dict[int, str]:
        """receipt id -> source (webhook | reconcile) for every receipt in a trace."""
        answer = self.api.get(f"/v1/trace/{correlation_id}")
        assert answer.status_code == 200, answer.text
        return {int(r["id"]): str(r["source"]) for r in answer.json()["receipts"]}

    def receipt_count(self, connection: str) -> int:
        """Webhook receipts stored for a connection, read from the region's SQLite file."""
        path = self.root / "data" / "default.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM webhook_receipts WHERE connection = ? AND source = 'webhook'",
                (connection,),
            ).fetchone()
        return int(row[0])

    def webhook_metric(self, connection: str, outcome: str) -> float:
        text = httpx.get(self.base + "/metrics", timeout=10).text
        pattern = re.compile(
            r"^inkbridge_webhooks_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.M
        )
        for match in pattern.finditer(text):
            labels = match.group("labels")
            if f'connection="{connection}"' in labels and f'outcome="{outcome}"' in labels:
                return float(match.group("value"))
        return 0.0

    def send(self, outgoing: Outgoing) -> httpx.Response:
        return httpx.post(outgoing.url, headers=outgoing.headers, content=outgoing.body, timeout=30)

    # The emulators.

    def act(self, provider: str, provider_envelope_id: str, action: str) -> dict[str, Any]:
        answer = httpx.post(
            self.vendors[provider].control_url(provider_envelope_id, action), json={}, timeout=30
        )
        assert answer.status_code == 200, f"{provider} {action}: {answer.text}"
        result: dict[str, Any] = answer.json()
        return result

    def settle(self, provider: str) -> None:
        vendor = self.vendors[provider]
        wait_for(vendor.settled, f"the {provider} emulator to deliver everything it queued")

    def deliveries(self, provider: str, provider_envelope_id: str) -> list[Delivery]:
        return self.recorder.of(provider, provider_envelope_id)

    def completed(self, provider: str) -> dict[str, Any]:
        """One envelope per provider taken through sent, viewed, signed and completed with the
        emulator's control endpoints (made once, then shared by the tests that need one)."""
        if provider not in self._completed:
            view = self.sent(provider)
            envelope_id, ref = view["id"], view["provider_envelope_id"]
            self.act(provider, ref, "view")
            self.wait_envelope(envelope_id, lambda v: v["state"] == "viewed", "state 'viewed'")
            self.act(provider, ref, "sign")
            self.wait_state(envelope_id, "completed")
            self.settle(provider)
            self._completed[provider] = self.envelope(envelope_id)
        return self._completed[provider]

    def completed_deliveries(self, provider: str) -> tuple[dict[str, Any], list[Delivery]]:
        """The ``completed`` envelope and every delivery of it, once the emulator has delivered
        all it queued."""
        view = self.completed(provider)
        self.settle(provider)
        return view, self.deliveries(provider, view["provider_envelope_id"])


def start_provider_stack(root: Path, *, stale_after_seconds: float = 3.0) -> ProviderStack:
    """Serve the six emulators, configure, migrate and start ``inkbridge serve``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    recorder = Recorder()
    private_pem, public_pem = rsa_pem()
    vendors: dict[str, Vendor] = {}
    with ExitStack() as started:
        for name in PROVIDERS:
            hook = f"http://127.0.0.1:{port}/v1/webhooks/{name}"
            app = build_emulator(name, hook, recorder.client_for(name), public_pem)
            vendors[name] = Vendor(name, Served(app))
            vendors[name].served.start()
            started.callback(vendors[name].served.stop)
        config = write_provider_config(
            root,
            port=port,
            emulators={name: vendor.base for name, vendor in vendors.items()},
            docusign_private_pem=private_pem,
            stale_after_seconds=stale_after_seconds,
        )
        token = admin_token(config)
        stack = ProviderStack(root=root, port=port, token=token, recorder=recorder, vendors=vendors)
        return launch(stack, config, started)
    raise AssertionError("unreachable")  # ExitStack may swallow exceptions, as far as mypy knows


def iter_stack(root: Path) -> Iterator[ProviderStack]:
    """A started stack for a fixture to yield, stopped afterwards."""
    stack = start_provider_stack(root)
    try:
        yield stack
    finally:
        stack.stop()
