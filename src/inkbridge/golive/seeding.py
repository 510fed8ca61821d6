"""Test requests golive creates and signs in a vendor emulator, for a vendor whose terminal
events inkbridge applies only once the vendor's API confirms them (Dropbox Sign signs only an
event's time and type, never its body). A lifecycle golive merely delivers is never confirmed
there, so its order, legal-state and conflict rows could prove nothing; in an emulator the
deployment marks ``golive_may_seed`` (its API client's ``api_url``), golive creates each test
envelope as a real request and signs it there before it delivers the matching events, and the
deployment's reconciler reads the completion back from the vendor API as in production.

Where the deployment marks no emulator, those rows are not applicable, with the reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

# Dropbox Sign's ``send`` needs a document; the emulator records the URL, never fetches it.
DOCUMENT_URL = "https://golive.example.invalid/golive-test-document.pdf"


class SeedError(Exception):
    """The emulator refused or could not be reached."""


def unconfirmed_reason(provider: str) -> str:
    return (
        f"{provider}'s completion waits for its API to confirm it, and the deployment marks no "
        "emulator golive may seed ([connections.NAME] golive_may_seed = true with api_url): a "
        "lifecycle golive only delivers would never complete"
    )


@dataclass(frozen=True)
class DropboxSignEmulator:
    """The Dropbox Sign emulator (the vendor emulators' own distribution) behind a
    connection's ``api_url``: requests created with the connection's API key (the key Dropbox
    Sign also signs callbacks with, so golive's ``--secret-file`` holds it), signed through the
    emulator's test control. Its own requests: golive's token never goes to the vendor."""

    api_url: str  # the API's base, ``…/v3``
    api_key: str
    timeout: float = 30.0

    @property
    def root(self) -> str:
        return self.api_url.rstrip("/").removesuffix("/v3")

    def check(self) -> None:
        """SeedError unless an emulator answers at ``api_url`` (a real vendor has no test
        control golive could sign with)."""
        try:
            answer = httpx.get(f"{self.root}/_emulator/health", timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SeedError(f"the emulator at {self.root} cannot be reached: {exc}") from None
        if answer.status_code != 200:
            raise SeedError(f"{self.root} is not an emulator golive can seed: {answer.status_code}")

    def create(
        self, title: str, emails: Sequence[str], metadata: Mapping[str, str]
    ) -> tuple[str, tuple[str, ...]]:
        """A test request with one signer per email: its id and the signature ids in order."""
        body = {
            "title": title,
            "test_mode": True,
            "file_urls": [DOCUMENT_URL],
            "metadata": dict(metadata),
            "signers": [
                {"email_address": email, "name": f"Golive signer {i + 1}", "order": i}
                for i, email in enumerate(emails)
            ],
        }
        answer = self._post(f"{self.api_url.rstrip('/')}/signature_request/send", body, auth=True)
        request = answer["signature_request"]
        ids = tuple(str(s["signature_id"]) for s in request["signatures"])
        return str(request["signature_request_id"]), ids

    def sign(self, request_id: str, signature_id: str) -> None:
        self._post(
            f"{self.root}/_emulator/signature_requests/{request_id}/sign",
            {"signature_id": signature_id},
        )

    def _post(self, url: str, body: Mapping[str, object], *, auth: bool = False) -> dict[str, Any]:
        try:
            basic = httpx.BasicAuth(self.api_key, "") if auth else None
            answer = httpx.post(url, json=body, auth=basic, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SeedError(f"POST {url}: {exc}") from None
        if answer.status_code >= 300:
            raise SeedError(f"POST {url} answered {answer.status_code}: {answer.text[:200]}")
        found: dict[str, Any] = answer.json()
        return found


SEEDERS = {"dropbox_sign": DropboxSignEmulator}
