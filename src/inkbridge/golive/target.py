"""The deployment under test as ``golive`` sees it: its public HTTP API with a ``golive`` token,
the connections' signing secrets it was given and the vendor format each speaks, and the test
namespace of one run (the leads and provider envelope ids it made, so the clean-up knows what to
erase)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from inkbridge.golive.seeding import DropboxSignEmulator
from inkbridge.golive.vendor_bodies import GoliveEvent
from inkbridge.golive.vendor_formats import Signed, VendorFormat, format_of
from inkbridge.sandbox.provider_wire import build_event, encode_event
from inkbridge.services.golive_namespace import TEST_EMAIL_DOMAIN

T = TypeVar("T")
# A fixed consent text: its hash is what the consent check expects the ledger to keep.
CONSENT_SOURCE = "inkbridge golive"
CONSENT_TEXT = "inkbridge golive test consent: this record is synthetic and will be erased."


class TargetError(Exception):
    """The deployment answered something a check cannot go on from (a status, a shape)."""


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as sent: its headers, exact body and the answer."""

    status: int
    body: bytes


@dataclass
class Target:
    """The HTTP client of one deployment and what this run created there."""

    client: httpx.Client
    secrets: Mapping[str, str]
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    settle_seconds: float = 2.0
    timeout_seconds: float = 30.0
    leads: list[str] = field(default_factory=list)
    # Each test lead as captured (its correlation id names its deliveries), by lead id.
    captured: dict[str, dict[str, Any]] = field(default_factory=dict)
    provider_envelopes: list[str] = field(default_factory=list)
    # The provider envelope ids of each test lead's events.
    lead_envelopes: dict[str, list[str]] = field(default_factory=dict)
    # Secrets a connection used before a rotation, which it must no longer accept.
    retired_secrets: Mapping[str, str] = field(default_factory=dict)
    # Each checked connection's provider (its vendor format), as the data map declares it.
    providers: dict[str, str] = field(default_factory=dict)
    # Each checked connection's region: a test lead is captured where its deliveries arrive
    # (a delivery naming a lead of another region is refused, as residency demands).
    regions: dict[str, str] = field(default_factory=dict)
    # A mapped sender's format (its vocabulary, from the deployment), by connection.
    senders: dict[str, VendorFormat] = field(default_factory=dict)
    # The vendor emulator golive creates and signs test requests in, by connection.
    seeders: dict[str, DropboxSignEmulator] = field(default_factory=dict)
    # Every email and name this run wrote: what must not appear in the deployment's logs.
    written: list[str] = field(default_factory=list)
    _counter: int = 0

    @property
    def campaign(self) -> str:
        return f"golive-{self.run_id}"

    def name(self, purpose: str) -> str:
        """A unique provider envelope id (or other name) of this run."""
        self._counter += 1
        return f"golive-{self.run_id}-{purpose}-{self._counter}"

    # -- HTTP ----------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        found: dict[str, Any] = self._json(self.client.get(path, params=params or None))
        return found

    def send(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._json(self.client.request(method, path, json=body))

    def _json(self, answer: httpx.Response) -> Any:
        if answer.status_code >= 300:
            raise TargetError(
                f"{answer.request.method} {answer.request.url.path} answered "
                f"{answer.status_code}: {answer.text[:200]}"
            )
        try:
            return answer.json()
        except json.JSONDecodeError:
            raise TargetError(f"{answer.request.url.path} answered no JSON") from None

    # -- the test namespace --------------------------------------------------------------------

    def test_email(self, purpose: str) -> str:
        return f"{self.name(purpose)}@{TEST_EMAIL_DOMAIN}"

    def capture_lead(self, purpose: str, *, region: str | None = None) -> dict[str, Any]:
        """A test lead of this run's campaign, with a signing and a marketing consent."""
        text_hash = consent_text_sha256()
        email, last_name = self.test_email(purpose), f"Test {self.run_id}"
        self.written.extend((email, last_name))
        consents = [
            {
                "kind": kind,
                "status": "granted",
                "text_sha256": text_hash,
                "locale": "en-GB",
                "jurisdiction": "GB",
                "source": CONSENT_SOURCE,
            }
            for kind in ("contract_execution", "marketing_email")
        ]
        lead: dict[str, Any] = self.send(
            "POST",
            "/v1/leads",
            {
                "email": email,
                "first_name": "Golive",
                "last_name": last_name,
                "utm_source": "golive",
                "utm_medium": "test",
                "utm_campaign": self.campaign,
                "consents": consents,
                **({"region": region} if region else {}),
            },
        )
        self.leads.append(str(lead["id"]))
        self.captured[str(lead["id"])] = lead
        return lead

    def personal_values(self) -> list[str]:
        """The test emails and names this run wrote (the first name is shared by every run, so
        the run's own last name stands for the name)."""
        return list(dict.fromkeys(self.written))

    # -- webhooks ------------------------------------------------------------------------------

    def event(
        self,
        event_type: str,
        provider_envelope_id: str,
        lead: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        recipient: str = "golive-signer",
    ) -> bytes:
        """The exact body of one sandbox-format event about a test envelope of ``lead``."""
        if provider_envelope_id not in self.provider_envelopes:
            self.provider_envelopes.append(provider_envelope_id)
        of_lead = self.lead_envelopes.setdefault(str(lead["id"]), [])
        if provider_envelope_id not in of_lead:
            of_lead.append(provider_envelope_id)
        return encode_event(
            build_event(
                event_type,
                envelope_id=provider_envelope_id,
                occurred_at=occurred_at or datetime.now(UTC),
                metadata={"inkbridge_lead_id": str(lead["id"]), "golive_run": self.run_id},
                recipient_id=recipient,
                recipient_email=str(lead["email"]),
            )
        )

    def vendor_envelope(
        self, connection: str, purpose: str, lead: Mapping[str, Any], signers: Sequence[str]
    ) -> tuple[str, tuple[str, ...]]:
        """A provider envelope id for a test lifecycle and its signers' recipient ids: this
        run's own names, or a request created in the connection's vendor emulator (its id and
        signature ids)."""
        seeder = self.seeders.get(connection)
        if seeder is None:
            return self.name(purpose), tuple(signers)
        metadata = {"inkbridge_lead_id": str(lead["id"]), "golive_run": self.run_id}
        emails = [str(lead["email"])] * len(signers)
        pid, ids = seeder.create(self.name(purpose), emails, metadata)
        self.provider_envelopes.append(pid)
        return pid, ids

    def vendor_signed(self, connection: str, provider_envelope_id: str, recipient: str) -> None:
        """The signer signs at the vendor too, where golive seeded the request."""
        seeder = self.seeders.get(connection)
        if seeder is not None:
            seeder.sign(provider_envelope_id, recipient)

    def vendor_format(self, connection: str) -> VendorFormat:
        """How ``connection``'s vendor encodes and signs: a mapped sender's vocabulary, the
        vendor's format, or inkbridge's own when the connection's provider is not known."""
        if connection in self.senders:
            return self.senders[connection]
        provider = self.providers.get(connection, "sandbox")
        found = format_of(provider)
        if found is None:
            raise TargetError(f"golive does not speak the {provider!r} vendor format")
        return found

    def deliver(
        self,
        connection: str,
        body: bytes,
        *,
        msg_id: str | None = None,
        timestamp: int | None = None,
        tamper: Callable[[Signed], Signed] | None = None,
        client: httpx.Client | None = None,
        secret: str | None = None,
    ) -> Delivery:
        """Post the event ``body`` (in the sandbox format) in the connection's vendor format,
        signed with the connection's secret (or ``secret``), after ``tamper`` if any.
        ``msg_id`` is the delivery id where the vendor has one; a vendor without one
        deduplicates on the event itself."""
        stamp = int(time.time()) if timestamp is None else timestamp
        key = self.secrets[connection] if secret is None else secret
        wire = self.vendor_format(connection)
        signed = wire.sign(GoliveEvent.from_sandbox(body), key, msg_id or new_msg_id(), stamp)
        if tamper is not None:
            signed = tamper(signed)
        answer = (client or self.client).post(
            f"/v1/webhooks/{connection}",
            content=signed.body,
            headers=dict(signed.headers),
            params=dict(signed.query) or None,
        )
        return Delivery(answer.status_code, answer.content)

    # -- reading back --------------------------------------------------------------------------

    def envelopes_for(self, provider_envelope_id: str) -> list[dict[str, Any]]:
        found = self.get("/v1/envelopes", provider_envelope_id=provider_envelope_id)
        return list(found["envelopes"])

    def envelope(self, provider_envelope_id: str) -> dict[str, Any] | None:
        """The full view of the envelope tracked for a provider envelope id, or None."""
        found = self.envelopes_for(provider_envelope_id)
        if not found:
            return None
        view: dict[str, Any] = self.get(f"/v1/envelopes/{found[0]['id']}")
        return view

    def wait_for(self, condition: Callable[[], T | None]) -> T | None:
        """Poll ``condition`` until it returns something truthy or the timeout passes."""
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            seen = condition()
            if seen or time.monotonic() > deadline:
                return seen
            time.sleep(0.1)


def new_msg_id() -> str:
    return "msg_golive_" + secrets.token_hex(12)


def consent_text_sha256() -> str:
    return hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
