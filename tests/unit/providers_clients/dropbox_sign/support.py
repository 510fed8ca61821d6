"""What the DropboxSignClient tests share: Dropbox Sign's published OpenAPI file (when
present), the emulator's keys, the signers, a request spec, a callback receiver and the client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from inkbridge.providers.base import EnvelopeSpec, Signer
from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from inkbridge.providers.dropbox_sign.client import DropboxSignClient, DropboxSignTemplate
from inkbridge_emulators.dropbox_sign import DropboxSignEmulator, create_dropbox_sign_emulator
from tests.support.provider_worlds import AdapterReceiver
from tests.unit.providers.support import vendor_dir

VENDOR = vendor_dir()
OPENAPI = VENDOR / "dropbox-sign" / "openapi.yaml"
HAVE_VENDOR = OPENAPI.is_file()
needs_vendor = pytest.mark.skipif(
    not HAVE_VENDOR, reason=f"Dropbox Sign's published OpenAPI file is absent ({OPENAPI})"
)

HOST = "http://dropbox-sign.test"
API_KEY = "emulator-api-key"
CLIENT_ID = "emulator-client-id"
ADA = Signer(email="ada@example.test", name="Ada Lovelace", recipient_id="1")
GRACE = Signer(email="grace@example.test", name="Grace Hopper", recipient_id="2")
IDS = {
    "inkbridge_envelope_id": "env_1",
    "inkbridge_lead_id": "lead_1",
    "inkbridge_correlation_id": "cor_1",
}


def spec(*signers: Signer, metadata: dict[str, str] | None = None) -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id="env_1",
        template_id="tpl_nda",
        title="Mutual NDA",
        signers=signers or (ADA,),
        metadata=metadata if metadata is not None else {**IDS, "inkbridge_utm_source": "news"},
        merge_fields={"company": "Analytical Engines"},
    )


def make_receiver(wrong_acks: int = 0) -> AdapterReceiver:
    """inkbridge's intake reduced to verify + dedup + parse; can answer the wrong ack first (a
    200 that Dropbox Sign counts as failed)."""
    adapter = DropboxSignAdapter([SecretStr(API_KEY)])
    return AdapterReceiver(
        adapter,
        "dropbox_sign",
        path="/callbacks",
        fail_first=wrong_acks,
        fail_status=200,
        fail_body="OK",
        strict=True,
    )


def create_emulator() -> Starlette:
    """The Dropbox Sign emulator for these tests: callbacks off until a test configures them,
    the published OpenAPI file checked when it is present."""
    return create_dropbox_sign_emulator(
        callback_url=None,
        api_key=API_KEY,
        schema_path=OPENAPI if HAVE_VENDOR else None,
        client_id=CLIENT_ID,
    )


@dataclass
class Rig:
    emulator: DropboxSignEmulator
    http: httpx.AsyncClient
    client: DropboxSignClient


def make_client(http: httpx.AsyncClient, **options: Any) -> DropboxSignClient:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "client": http,
        "client_id": CLIENT_ID,
        "template_map": {"tpl_nda": DropboxSignTemplate("dbx-tpl", ("Client", "Witness"))},
    }
    return DropboxSignClient(f"{HOST}/v3", **(settings | options))
