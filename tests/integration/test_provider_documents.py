"""Each provider client's ``download_document`` against its vendor emulator over real HTTP (uvicorn
on a free 127.0.0.1 port): the signed envelope's PDF arrives byte for byte as the emulator
built it, through the vendor's own route and authentication; a wrong credential is the vendor's
refusal, classified as permanent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from inkbridge.errors import PermanentError
from inkbridge.providers.acrobat_sign.client import AcrobatSignClient
from inkbridge.providers.base import EnvelopeSpec, ProviderClient, Signer
from inkbridge.providers.documenso.client import DocumensoClient
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge.providers.docusign.client import DocuSignClient
from inkbridge.providers.dropbox_sign.client import DropboxSignClient
from inkbridge.providers.pandadoc.client import PandaDocClient
from inkbridge.sandbox.signed_pdf import signed_pdf
from inkbridge_emulators.acrobat_sign import create_acrobat_sign_emulator
from inkbridge_emulators.documenso import create_documenso_emulator
from inkbridge_emulators.docuseal import create_docuseal_emulator
from inkbridge_emulators.docusign import create_docusign_emulator
from inkbridge_emulators.dropbox_sign import create_dropbox_sign_emulator
from inkbridge_emulators.pandadoc import create_pandadoc_emulator
from tests.support.keys import rsa_pem
from tests.support.served import serve

KEY = "vendor-key-documents"  # every emulator's API credential in this file
ACROBAT_ID, ACROBAT_SECRET, ACROBAT_REFRESH = "acrobat-client", "acrobat-secret", "acrobat-refresh"
SPEC = EnvelopeSpec(
    envelope_id="env_document",
    template_id="1000001",
    title="Mutual NDA",
    signers=(Signer(email="ada@example.test", name="Ada Lovelace"),),
    metadata={"inkbridge_lead_id": "lead_document"},
)


def _acknowledging(request: httpx.Request) -> httpx.Response:
    """Every webhook accepted the way its vendor wants it (Dropbox's text, Acrobat's echo)."""
    echo = request.headers.get("x-adobesign-clientid", "")
    return httpx.Response(
        200, text="Hello API Event Received", headers={"X-AdobeSign-ClientId": echo}
    )


@dataclass(frozen=True)
class VendorCase:
    """One vendor: its emulator, its client (given the emulator's URL and a credential), the
    name its PDF carries, how its test control is reached and where the title is kept."""

    app: Callable[[httpx.AsyncClient], Any]
    client: Callable[[str, str, httpx.AsyncClient], ProviderClient]
    label: str
    control: str = "envelopes"

    def title(self, emulator: Any, provider_id: str) -> str:
        if hasattr(emulator, "book"):
            return str(emulator.book.get(provider_id).title)
        if hasattr(emulator, "requests"):
            return str(emulator.requests[provider_id].title)
        return str(emulator.envelopes[provider_id].email_subject)


PRIVATE_PEM, PUBLIC_PEM = rsa_pem()

CASES: dict[str, VendorCase] = {
    "docusign": VendorCase(
        app=lambda hooks: create_docusign_emulator(
            connect_url=None, connect_keys=["connect-key"], client=hooks, public_key_pem=PUBLIC_PEM
        ),
        client=lambda base, key, http: DocuSignClient(
            f"{base}/restapi", "acc-1", "ik", "user", PRIVATE_PEM, base, http
        ),
        label="DocuSign",
    ),
    "dropbox_sign": VendorCase(
        app=lambda hooks: create_dropbox_sign_emulator(
            callback_url="http://hooks.test/dropbox", api_key=KEY, client=hooks, client_id="app"
        ),
        client=lambda base, key, http: DropboxSignClient(
            f"{base}/v3", api_key=key, client=http, client_id="app"
        ),
        label="Dropbox Sign",
        control="signature_requests",
    ),
    "acrobat_sign": VendorCase(
        app=lambda hooks: create_acrobat_sign_emulator(
            webhook_url="http://hooks.test/acrobat",
            client_id=ACROBAT_ID,
            client_secret=ACROBAT_SECRET,
            refresh_token=ACROBAT_REFRESH,
            client=hooks,
        ),
        client=lambda base, key, http: AcrobatSignClient(
            base, ACROBAT_ID, ACROBAT_SECRET, ACROBAT_REFRESH, http
        ),
        label="Acrobat Sign",
    ),
    "pandadoc": VendorCase(
        app=lambda hooks: create_pandadoc_emulator(
            webhook_url="http://hooks.test/pandadoc", api_key=KEY, shared_key="s", client=hooks
        ),
        client=lambda base, key, http: PandaDocClient(
            f"{base}/public/v1", api_key=key, client=http
        ),
        label="PandaDoc",
    ),
    "documenso": VendorCase(
        app=lambda hooks: create_documenso_emulator(
            webhook_url="http://hooks.test/documenso",
            api_token=KEY,
            webhook_secret="s",
            client=hooks,
        ),
        client=lambda base, key, http: DocumensoClient(base, key, http),
        label="Documenso",
    ),
    "docuseal": VendorCase(
        app=lambda hooks: create_docuseal_emulator(
            webhook_url="http://hooks.test/docuseal",
            api_token=KEY,
            webhook_secret="whsec_docuseal",
            client=hooks,
        ),
        client=lambda base, key, http: DocuSealClient(base, key, http),
        label="DocuSeal",
    ),
}


async def _download(client: ProviderClient, provider_id: str) -> tuple[bytes, int]:
    chunks = [chunk async for chunk in client.download_document(provider_id)]
    return b"".join(chunks), len(chunks)


@pytest.mark.parametrize("vendor", sorted(CASES))
async def test_the_signed_pdf_streams_from_the_vendor_route_as_the_emulator_built_it(
    vendor: str,
) -> None:
    case = CASES[vendor]
    hooks = httpx.AsyncClient(transport=httpx.MockTransport(_acknowledging))
    app = case.app(hooks)
    with serve(app) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            client = case.client(base, KEY, http)
            created = await client.create_envelope(SPEC)
            provider_id = created.provider_envelope_id
            signed = await http.post(f"{base}/_emulator/{case.control}/{provider_id}/sign")
            assert signed.status_code == 200, signed.text
            document, _ = await _download(client, provider_id)
    await hooks.aclose()

    title = case.title(app.state.emulator, provider_id)
    assert document == signed_pdf(provider_id, title, case.label)
    assert document.startswith(b"%PDF-1.4") and document.rstrip().endswith(b"%%EOF")
    assert provider_id.encode() in document


@pytest.mark.parametrize("vendor", ["dropbox_sign", "pandadoc", "documenso", "docuseal"])
async def test_a_wrong_api_credential_is_the_vendors_permanent_refusal(vendor: str) -> None:
    case = CASES[vendor]
    hooks = httpx.AsyncClient(transport=httpx.MockTransport(_acknowledging))
    with serve(case.app(hooks)) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            created = await case.client(base, KEY, http).create_envelope(SPEC)
            stranger = case.client(base, "not-the-key", http)
            with pytest.raises(PermanentError) as refused:
                await _download(stranger, created.provider_envelope_id)
    await hooks.aclose()

    assert "401" in refused.value.reason


async def test_an_unknown_docusign_envelope_is_refused_with_its_error_code() -> None:
    case = CASES["docusign"]
    hooks = httpx.AsyncClient(transport=httpx.MockTransport(_acknowledging))
    with serve(case.app(hooks)) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            with pytest.raises(PermanentError) as refused:
                await _download(case.client(base, KEY, http), "no-such-envelope")
    await hooks.aclose()

    assert refused.value.reason == "docusign answered 400 (ENVELOPE_DOES_NOT_EXIST)"
