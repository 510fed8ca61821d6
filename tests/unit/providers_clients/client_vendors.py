"""The provider clients run against their emulators in a world (tests/support/provider_worlds)
as one table: per vendor the receiver of its webhooks, its emulator, the client under test and
one whose credential the vendor refuses, and the envelope its tests send. The per-vendor test
modules take their ``world`` fixture and ``spec`` from here; test_provider_clients.py runs what
every vendor does alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette

from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.acrobat_sign.client import AcrobatSignClient
from inkbridge.providers.base import EnvelopeSpec, Signer
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from inkbridge.providers.documenso.client import DocumensoClient
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
from inkbridge.providers.pandadoc.client import PandaDocClient
from inkbridge_emulators.acrobat_sign import create_acrobat_sign_emulator
from inkbridge_emulators.documenso import create_documenso_emulator
from inkbridge_emulators.docuseal import create_docuseal_emulator
from inkbridge_emulators.pandadoc import create_pandadoc_emulator
from tests.support.provider_worlds import ADA, AdapterReceiver, EmulatorWorld, world_fixture

IDS = {"inkbridge_lead_id": "lead_1", "inkbridge_correlation_id": "cor_1"}


@dataclass(frozen=True)
class ClientVendor:
    """One provider client and its emulator as the tests drive them.

    ``connect`` makes a client over the emulator's API with a credential: ``credential`` is
    the one the emulator accepts; ``signer`` signs when a test names nobody."""

    name: str
    base_url: str
    template_id: str
    receiver: Callable[[], AdapterReceiver]
    create_emulator: Callable[..., Starlette]
    connect: Callable[[httpx.AsyncClient, str], Any]
    credential: str
    metadata: dict[str, str] = field(default_factory=lambda: dict(IDS))
    merge_fields: dict[str, str] = field(default_factory=dict)
    signer: Signer = ADA

    def client(self, api: httpx.AsyncClient) -> Any:
        """The client under test."""
        return self.connect(api, self.credential)

    def wrong_client(self, api: httpx.AsyncClient) -> Any:
        """A client whose credential the emulator refuses."""
        return self.connect(api, self.credential + "-revoked")

    def spec(self, *signers: Signer, envelope_id: str = "env_1") -> EnvelopeSpec:
        """The vendor's Mutual NDA envelope for ``signers`` (the default signer alone)."""
        return EnvelopeSpec(
            envelope_id=envelope_id,
            template_id=self.template_id,
            title="Mutual NDA",
            signers=signers or (self.signer,),
            metadata=dict(self.metadata),
            merge_fields=dict(self.merge_fields),
        )

    def world_fixture(self) -> Any:
        """A ``world`` fixture: a fresh receiver, emulator and client per test."""
        return world_fixture(self.receiver, self.create_emulator, self.client, self.base_url)


async def create_and_deliver(world: EmulatorWorld[Any], spec: EnvelopeSpec) -> tuple[Any, Any]:
    """Create ``spec`` and deliver the webhooks the emulator queued; returns the creation and
    the emulator's record of the envelope."""
    created = await world.client.create_envelope(spec)
    assert await world.emulator.drain(10)
    return created, world.emulator.book.get(created.provider_envelope_id)


async def no_wait(_: float) -> None:
    return None


def token_vendor(
    name: str,
    adapter: Callable[[list[SecretStr]], Any],
    create_emulator: Callable[..., Starlette],
    client: Callable[[str, str, httpx.AsyncClient], Any],
    template_id: str,
    credentials: tuple[str, str],
    receiver_options: dict[str, Any] | None = None,
    **spec: Any,
) -> ClientVendor:
    """A vendor whose client holds one API token and whose webhooks carry one secret
    (``credentials``: the token, the secret), at ``http://<name>``."""
    token, secret = credentials
    base_url = f"http://{name}"
    return ClientVendor(
        name=name,
        base_url=base_url,
        template_id=template_id,
        receiver=lambda: AdapterReceiver(
            adapter([SecretStr(secret)]), name, **(receiver_options or {})
        ),
        create_emulator=partial(create_emulator, api_token=token, webhook_secret=secret),
        connect=lambda api, credential: client(base_url, credential, api),
        credential=token,
        **spec,
    )


DOCUMENSO = token_vendor(
    "documenso",
    DocumensoAdapter,
    create_documenso_emulator,
    DocumensoClient,
    template_id="envelope_template1",
    credentials=("api_emulatortoken", "emulator-webhook-secret"),
    metadata={"inkbridge_lead_id": "lead_1"},
)

DOCUSEAL = token_vendor(
    "docuseal",
    DocuSealAdapter,
    create_docuseal_emulator,
    DocuSealClient,
    template_id="1000001",
    credentials=("emulator-api-token", "whsec_emulatorwebhooksecret"),
    receiver_options={"event_key": "event_type", "fail_status": 500},
    merge_fields={"Company": "Analytical Engines"},
)

ACROBAT_CLIENT_ID = "emulator-client-id"
ACROBAT_SECRET = "emulator-client-secret"
ACROBAT_REFRESH = "emulator-refresh-token"
# The OAuth app the emulator knows, and the refresh token it granted.
ACROBAT_APP: dict[str, Any] = {
    "client_id": ACROBAT_CLIENT_ID,
    "client_secret": ACROBAT_SECRET,
    "refresh_token": ACROBAT_REFRESH,
}
# Acrobat Sign names its participants: inkbridge's signers carry their recipient ids.
ACROBAT_ADA = Signer(email="ada@example.test", name="Ada Lovelace", recipient_id="1")
ACROBAT_GRACE = Signer(email="grace@example.test", name="Grace Hopper", recipient_id="2")
ACROBAT_SIGN = ClientVendor(
    name="acrobat_sign",
    base_url="http://acrobat",
    template_id="CBJCHBCAABAAlibrary1",
    receiver=lambda: AdapterReceiver(AcrobatSignAdapter([SecretStr(ACROBAT_CLIENT_ID)]), "acrobat"),
    create_emulator=partial(create_acrobat_sign_emulator, **ACROBAT_APP),
    connect=lambda api, refresh: AcrobatSignClient(
        "http://acrobat", ACROBAT_CLIENT_ID, ACROBAT_SECRET, refresh, api
    ),
    credential=ACROBAT_REFRESH,
    merge_fields={"company": "Analytical Engines"},
    signer=ACROBAT_ADA,
)

PANDADOC_API_KEY = "emulator-api-key"
PANDADOC_SHARED_KEY = "emulator-shared-key"
PANDADOC_BASE = "http://pandadoc/public/v1"
PANDADOC = ClientVendor(
    name="pandadoc",
    base_url="http://pandadoc",
    template_id="tplNDA",
    receiver=lambda: AdapterReceiver(PandaDocAdapter([SecretStr(PANDADOC_SHARED_KEY)]), "pandadoc"),
    create_emulator=partial(
        create_pandadoc_emulator,
        api_key=PANDADOC_API_KEY,
        shared_key=PANDADOC_SHARED_KEY,
        draft_after_reads=3,
    ),
    connect=lambda api, key: PandaDocClient(PANDADOC_BASE, api_key=key, client=api, sleep=no_wait),
    credential=PANDADOC_API_KEY,
    merge_fields={"Client.Company": "Analytical Engines"},
)

VENDORS = (DOCUMENSO, DOCUSEAL, ACROBAT_SIGN, PANDADOC)
