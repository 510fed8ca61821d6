"""The six e-signature vendors of the provider acceptance tests: their credentials and
templates, each emulator built with them (served in a thread, delivering its webhooks to
inkbridge through a recording client), and the ``inkbridge.toml`` connections that point
inkbridge's real clients at them (secrets as ``file:`` references).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from inkbridge_emulators.acrobat_sign import create_acrobat_sign_emulator
from inkbridge_emulators.documenso import create_documenso_emulator
from inkbridge_emulators.docuseal import create_docuseal_emulator
from inkbridge_emulators.docusign import create_docusign_emulator
from inkbridge_emulators.dropbox_sign import create_dropbox_sign_emulator
from inkbridge_emulators.pandadoc import create_pandadoc_emulator
from tests.acceptance.stack import SANDBOX_CRM, base_config, secret_ref, write_config
from tests.support.served import Served

VENDOR = Path(__file__).resolve().parents[2].parent / "shared" / "vendor"
DOCUSIGN_SCHEMAS = VENDOR / "docusign"
DROPBOX_OPENAPI = VENDOR / "dropbox-sign" / "openapi.yaml"
HAVE_VENDOR_SCHEMAS = DOCUSIGN_SCHEMAS.is_dir() and DROPBOX_OPENAPI.is_file()

PROVIDERS = ("docusign", "dropbox_sign", "acrobat_sign", "pandadoc", "documenso", "docuseal")
TERMINAL_STATES = frozenset({"completed", "declined", "voided", "expired"})

# Credentials. Two connections hold two webhook secrets (rotation): the emulator signs with the
# newer one, the tests sign by hand with the older one, and inkbridge must take either.
DOCUSIGN_CONNECT_KEYS = ("connect-key-2024-retiring", "connect-key-2025-current")
DOCUSIGN_ACCOUNT, DOCUSIGN_INTEGRATION_KEY, DOCUSIGN_USER = "acc-ink", "ik-ink", "user-ink"
DROPBOX_API_KEY, DROPBOX_CLIENT_ID = "dropbox-api-key-ink", "dropbox-app-ink"
ACROBAT_CLIENT_ID, ACROBAT_CLIENT_SECRET = "acrobat-client-ink", "acrobat-secret-ink"
ACROBAT_REFRESH_TOKEN = "acrobat-refresh-ink"
PANDADOC_API_KEY, PANDADOC_SHARED_KEY = "pandadoc-api-key-ink", "pandadoc-shared-key-ink"
DOCUMENSO_API_TOKEN, DOCUMENSO_SECRET = "api_documenso_ink", "documenso-webhook-secret-ink"
DOCUSEAL_API_TOKEN = "docuseal-token-ink"
DOCUSEAL_KEYS = ("whsec_docuseal_retiring_0001", "whsec_docuseal_current_0002")

# The provider template each [templates.<provider>_nda] names, as each emulator expects it.
TEMPLATE_IDS = {
    "docusign": "tpl-docusign-nda",  # a server template with one role, "signer"
    "dropbox_sign": "tpl-dropbox-nda",  # a template with one role, "Signer"
    "acrobat_sign": "CBJCHBCAABAAlibrarydocnda0001",  # a library document
    "pandadoc": "tplPandaDocNda0001",  # a template uuid
    "documenso": "envelope_template_nda",  # a template envelope (recipient slots)
    "docuseal": "1000001",  # a numeric template id
}


def hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Vendor:
    """One emulated provider: its app, where it is served and its test-control endpoint."""

    name: str
    served: Served

    @property
    def base(self) -> str:
        return self.served.url

    @property
    def emulator(self) -> Any:
        return self.served.app.state.emulator

    def control_url(self, provider_envelope_id: str, action: str) -> str:
        kind = "signature_requests" if self.name == "dropbox_sign" else "envelopes"
        return f"{self.base}/_emulator/{kind}/{provider_envelope_id}/{action}"

    def settled(self) -> bool:
        """Every queued webhook was delivered, dropped by chaos or given up on."""
        c = self.emulator.emitter.counters
        return bool(c.delivered + c.dropped + c.gave_up >= c.queued + c.duplicates)


# Each emulator with the credentials above, by the name of the argument that takes the URL its
# webhooks go to; ``build_emulator`` adds that URL, the recording client and DocuSign's key.
EMULATORS: dict[str, tuple[str, Callable[..., Any]]] = {
    "docusign": (
        "connect_url",
        partial(
            create_docusign_emulator,
            connect_keys=[DOCUSIGN_CONNECT_KEYS[1]],
            account_id=DOCUSIGN_ACCOUNT,
            schema_dir=DOCUSIGN_SCHEMAS if HAVE_VENDOR_SCHEMAS else None,
            user_id=DOCUSIGN_USER,
            integration_key=DOCUSIGN_INTEGRATION_KEY,
            templates={TEMPLATE_IDS["docusign"]: ["signer"]},
        ),
    ),
    "dropbox_sign": (
        "callback_url",
        partial(
            create_dropbox_sign_emulator,
            api_key=DROPBOX_API_KEY,
            schema_path=DROPBOX_OPENAPI if HAVE_VENDOR_SCHEMAS else None,
            client_id=DROPBOX_CLIENT_ID,
            templates={TEMPLATE_IDS["dropbox_sign"]: ["Signer"]},
        ),
    ),
    "acrobat_sign": (
        "webhook_url",
        partial(
            create_acrobat_sign_emulator,
            client_id=ACROBAT_CLIENT_ID,
            client_secret=ACROBAT_CLIENT_SECRET,
            refresh_token=ACROBAT_REFRESH_TOKEN,
        ),
    ),
    "pandadoc": (
        "webhook_url",
        partial(create_pandadoc_emulator, api_key=PANDADOC_API_KEY, shared_key=PANDADOC_SHARED_KEY),
    ),
    "documenso": (
        "webhook_url",
        partial(
            create_documenso_emulator,
            api_token=DOCUMENSO_API_TOKEN,
            webhook_secret=DOCUMENSO_SECRET,
        ),
    ),
    "docuseal": (
        "webhook_url",
        partial(
            create_docuseal_emulator, api_token=DOCUSEAL_API_TOKEN, webhook_secret=DOCUSEAL_KEYS[1]
        ),
    ),
}


def build_emulator(name: str, hook: str, client: httpx.AsyncClient, public_pem: str) -> Any:
    url_argument, create = EMULATORS[name]
    options: dict[str, Any] = {url_argument: hook, "client": client}
    if name == "docusign":
        options["public_key_pem"] = public_pem  # a fresh key pair per stack
    return create(**options)


def write_provider_config(
    root: Path,
    *,
    port: int,
    emulators: dict[str, str],
    docusign_private_pem: str,
    stale_after_seconds: float,
) -> Path:
    """inkbridge.toml: the sandbox (for its CRM), and one connection per vendor with its
    webhook secrets and its API pointed at ``emulators[vendor]``; secrets as ``file:`` refs."""

    def refs(*pairs: tuple[str, str]) -> list[str]:
        return [secret_ref(root, name, value) for name, value in pairs]

    ds = emulators["docusign"]
    tree = base_config(
        root, port, reconcile_interval_seconds=0.5, stale_after_seconds=stale_after_seconds
    )
    tree["connections"] |= {
        "docusign": {
            "provider": "docusign",
            "secrets": refs(
                ("docusign-connect-retiring", DOCUSIGN_CONNECT_KEYS[0]),
                ("docusign-connect-current", DOCUSIGN_CONNECT_KEYS[1]),
            ),
            "api_url": ds + "/restapi",
            "options": {
                "account_id": DOCUSIGN_ACCOUNT,
                "integration_key": DOCUSIGN_INTEGRATION_KEY,
                "user_id": DOCUSIGN_USER,
                "auth_url": ds,
                "private_key": secret_ref(root, "docusign-private.pem", docusign_private_pem),
            },
        },
        "dropbox_sign": {
            "provider": "dropbox_sign",
            "secrets": refs(("dropbox-api-key", DROPBOX_API_KEY)),
            "api_url": emulators["dropbox_sign"] + "/v3",
            "api_key": secret_ref(root, "dropbox-api-key", DROPBOX_API_KEY),
            "options": {"test_mode": True, "client_id": DROPBOX_CLIENT_ID},
        },
        "acrobat_sign": {
            "provider": "acrobat_sign",
            "secrets": refs(("acrobat-client-id", ACROBAT_CLIENT_ID)),
            "api_url": emulators["acrobat_sign"],
            "options": {
                "client_id": ACROBAT_CLIENT_ID,
                "client_secret": secret_ref(root, "acrobat-client-secret", ACROBAT_CLIENT_SECRET),
                "refresh_token": secret_ref(root, "acrobat-refresh-token", ACROBAT_REFRESH_TOKEN),
            },
        },
        "pandadoc": {
            "provider": "pandadoc",
            "secrets": refs(("pandadoc-shared-key", PANDADOC_SHARED_KEY)),
            "api_url": emulators["pandadoc"] + "/public/v1",
            "api_key": secret_ref(root, "pandadoc-api-key", PANDADOC_API_KEY),
        },
        "documenso": {
            "provider": "documenso",
            "secrets": refs(("documenso-webhook-secret", DOCUMENSO_SECRET)),
            "api_url": emulators["documenso"],
            "api_key": secret_ref(root, "documenso-api-token", DOCUMENSO_API_TOKEN),
        },
        "docuseal": {
            "provider": "docuseal",
            "secrets": refs(
                ("docuseal-webhook-retiring", DOCUSEAL_KEYS[0]),
                ("docuseal-webhook-current", DOCUSEAL_KEYS[1]),
            ),
            "api_url": emulators["docuseal"],
            "api_key": secret_ref(root, "docuseal-api-token", DOCUSEAL_API_TOKEN),
        },
    }
    tree["destinations"]["crm"] = SANDBOX_CRM
    tree["templates"] = {"nda": {"title": "Mutual non-disclosure agreement"}} | {
        f"{provider}_nda": {
            "title": f"Mutual NDA ({provider})",
            "version": 2,
            "provider_template_id": TEMPLATE_IDS[provider],
        }
        for provider in PROVIDERS
    }
    return write_config(root, tree)
