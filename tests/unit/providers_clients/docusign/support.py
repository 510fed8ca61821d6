"""What the DocuSignClient tests share: DocuSign's published schema files (when present), the
emulator's account and keys, an envelope spec, a Connect receiver and the client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from inkbridge.providers.base import EnvelopeSpec, Signer
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.docusign.client import DocuSignClient
from inkbridge_emulators.docusign import DocuSignEmulator, create_docusign_emulator
from tests.support.keys import rsa_pem
from tests.support.provider_worlds import AdapterReceiver
from tests.unit.providers.support import vendor_dir

VENDOR = vendor_dir()
SCHEMA_DIR = VENDOR / "docusign"
SWAGGER = SCHEMA_DIR / "esignature.rest.swagger-v2.json"
CONNECT = SCHEMA_DIR / "connect.schema-v2.json"
HAVE_VENDOR = SWAGGER.is_file() and CONNECT.is_file()
needs_vendor = pytest.mark.skipif(
    not HAVE_VENDOR, reason=f"DocuSign's published schema files are absent ({SCHEMA_DIR})"
)

HOST = "http://docusign.test"
ACCOUNT = "acc-1"
INTEGRATION_KEY = "ik-0000"
USER_ID = "user-0000"
CONNECT_KEYS = ["connect-key-1", "connect-key-2"]
ADA = Signer(email="ada@example.test", name="Ada Lovelace", recipient_id="1")


PRIVATE_PEM, PUBLIC_PEM = rsa_pem()


def spec(envelope_id: str = "env_1", template_id: str = "tpl_nda") -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id=envelope_id,
        template_id=template_id,
        title="Mutual NDA",
        signers=(ADA,),
        metadata={
            "inkbridge_envelope_id": envelope_id,
            "inkbridge_lead_id": "lead_1",
            "inkbridge_correlation_id": "cor_1",
            "inkbridge_utm_source": "newsletter",
            "inkbridge_landing_page": "https://example.test/" + "p" * 200,
        },
        merge_fields={"company": "Analytical Engines"},
    )


def make_receiver(fail_first: int = 0) -> AdapterReceiver:
    """inkbridge's intake reduced to verify + dedup + parse; can fail the first N deliveries."""
    adapter = DocuSignConnectAdapter([SecretStr(k) for k in CONNECT_KEYS])
    return AdapterReceiver(adapter, "docusign", fail_first=fail_first, strict=True)


def create_emulator() -> Starlette:
    """The DocuSign emulator for these tests: Connect off until a test configures it, the
    published schema checked when it is present."""
    return create_docusign_emulator(
        connect_url=None,
        connect_keys=CONNECT_KEYS,
        account_id=ACCOUNT,
        schema_dir=SCHEMA_DIR if HAVE_VENDOR else None,
        public_key_pem=PUBLIC_PEM,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
    )


@dataclass
class Rig:
    app: Starlette
    emulator: DocuSignEmulator
    http: httpx.AsyncClient
    client: DocuSignClient


def make_client(http: httpx.AsyncClient, **options: Any) -> DocuSignClient:
    defaults: dict[str, Any] = {"default_return_url": "https://app.example.test/signed"}
    return DocuSignClient(
        f"{HOST}/restapi",
        ACCOUNT,
        INTEGRATION_KEY,
        USER_ID,
        options.pop("private_key_pem", PRIVATE_PEM),
        HOST,
        http,
        **(defaults | options),
    )
