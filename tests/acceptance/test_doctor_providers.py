"""`inkbridge doctor` checks every e-signature provider connection's API credentials with one
harmless authenticated call, against each vendor's emulator run as a process: good credentials
pass naming the vendor's call, refused ones fail naming the connection and the refusal, a
connection that only receives webhooks is not applicable (and says why), and no secret is ever
printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.stack import base_config, secret_ref
from tests.acceptance.test_doctor import doctor, migrated, refused, rows
from tests.support.keys import rsa_pem
from tests.support.processes import PYTHON, Process, free_port, wait_http

pytestmark = pytest.mark.slow

PROVIDERS = ("docusign", "dropbox_sign", "acrobat_sign", "pandadoc", "documenso", "docuseal")
# The call each check makes: the vendor's own harmless authenticated read.
CALLS = {
    "docusign": "GET /restapi/v2.1/accounts/acc-doctor",
    "dropbox_sign": "GET /v3/account",
    "acrobat_sign": "GET /api/rest/v6/baseUris",
    "pandadoc": "GET /public/v1/members/current",
    "documenso": "GET /api/v2/envelope",
    "docuseal": "GET /templates",
}
# What each emulator process knows (its --<name> options) and what inkbridge is given.
DOCUSIGN = {"account_id": "acc-doctor", "integration_key": "ik-doctor", "user_id": "user-doctor"}
DROPBOX_KEY = "dropbox-doctor-key-0001"
ACROBAT = {
    "client_id": "acrobat-doctor-client",
    "client_secret": "acrobat-doctor-secret-0001",
    "refresh_token": "acrobat-doctor-refresh-0001",
}
PANDADOC_KEY = "pandadoc-doctor-key-0001"
DOCUMENSO_TOKEN = "api_documenso_doctor_0001"
DOCUSEAL_TOKEN = "docuseal-doctor-token-0001"
WRONG = "wrong-secret-for-doctor"
GOOD_PRIVATE, GOOD_PUBLIC = rsa_pem()
OTHER_PRIVATE, _ = rsa_pem()  # a key DocuSign has never seen


def _options(vendor: str, root: Path) -> list[str]:
    if vendor == "docusign":
        public = root / "docusign-public.pem"
        public.write_text(GOOD_PUBLIC, encoding="utf-8")
        given = {**DOCUSIGN, "public_key_file": str(public)}
    else:
        given = {
            "dropbox_sign": {"api_key": DROPBOX_KEY},
            "acrobat_sign": ACROBAT,
            "pandadoc": {"api_key": PANDADOC_KEY},
            "documenso": {"api_token": DOCUMENSO_TOKEN},
            "docuseal": {"api_token": DOCUSEAL_TOKEN},
        }[vendor]
    return [arg for name, value in given.items() for arg in ("--" + name.replace("_", "-"), value)]


@pytest.fixture(scope="module")
def vendors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The six provider emulators as processes; vendor -> base URL."""
    root = tmp_path_factory.mktemp("providers")
    started: dict[str, tuple[Process, str]] = {}
    try:
        for vendor in PROVIDERS:
            port = free_port()
            args = [PYTHON, "-m", f"inkbridge_emulators.{vendor}", "--port", str(port)]
            args += ["--webhook-url", "http://127.0.0.1:9/webhooks", *_options(vendor, root)]
            started[vendor] = (
                Process(args, root / f"{vendor}.log").start(),
                f"http://127.0.0.1:{port}",
            )
        for process, url in started.values():
            wait_http(url + "/", proc=process.proc)
        yield {vendor: url for vendor, (_, url) in started.items()}
    finally:
        for process, _ in started.values():
            process.stop()


def _connections(root: Path, urls: dict[str, str], *, wrong: bool) -> dict[str, dict[str, Any]]:
    """One connection per vendor, its API pointed at the emulator; ``wrong``: each with a
    secret the vendor refuses (DocuSign: a private key it has never seen)."""

    def ref(name: str, value: str) -> str:
        return secret_ref(root, name, WRONG if wrong else value)

    hook = [secret_ref(root, "webhook-secret", "webhook-secret-doctor")]
    private = OTHER_PRIVATE if wrong else GOOD_PRIVATE
    return {
        "docusign": {
            "provider": "docusign",
            "secrets": hook,
            "api_url": urls["docusign"] + "/restapi",
            "options": {
                **DOCUSIGN,
                "auth_url": urls["docusign"],
                "private_key": secret_ref(root, "docusign-private.pem", private),
            },
        },
        "dropbox_sign": {
            "provider": "dropbox_sign",
            "secrets": hook,
            "api_url": urls["dropbox_sign"] + "/v3",
            "api_key": ref("dropbox-api-key", DROPBOX_KEY),
        },
        "acrobat_sign": {
            "provider": "acrobat_sign",
            "secrets": hook,
            "api_url": urls["acrobat_sign"],
            "options": {
                "client_id": ACROBAT["client_id"],
                "client_secret": secret_ref(root, "acrobat-secret", ACROBAT["client_secret"]),
                "refresh_token": ref("acrobat-refresh", ACROBAT["refresh_token"]),
            },
        },
        "pandadoc": {
            "provider": "pandadoc",
            "secrets": hook,
            "api_url": urls["pandadoc"] + "/public/v1",
            "api_key": ref("pandadoc-api-key", PANDADOC_KEY),
        },
        "documenso": {
            "provider": "documenso",
            "secrets": hook,
            "api_url": urls["documenso"],
            "api_key": ref("documenso-api-token", DOCUMENSO_TOKEN),
        },
        "docuseal": {
            "provider": "docuseal",
            "secrets": hook,
            "api_url": urls["docuseal"],
            "api_key": ref("docuseal-api-token", DOCUSEAL_TOKEN),
        },
        # Webhooks only: no API settings at all, so no credentials to check.
        "hooks_only": {"provider": "dropbox_sign", "secrets": hook},
    }


def _config(root: Path, urls: dict[str, str], *, wrong: bool) -> Path:
    tree: dict[str, Any] = base_config(root, free_port())
    tree["connections"] |= _connections(root, urls, wrong=wrong)
    return migrated(root, tree)


def test_every_provider_with_good_credentials_passes_naming_its_call(
    tmp_path: Path, vendors: dict[str, str]
) -> None:
    config = _config(tmp_path, vendors, wrong=False)
    code, checks = rows(config)
    assert code == 0, [row for row in checks.values() if row["status"] == "fail"]
    for vendor in PROVIDERS:
        row = checks[f"connection {vendor}"]
        assert row["status"] == "pass", row
        assert row["detail"] == f"{CALLS[vendor]}: 200", row
    hooks_only = checks["connection hooks_only"]
    assert hooks_only["status"] == "not applicable", hooks_only
    assert "receives webhooks only" in hooks_only["detail"]
    # Each emulator's Date header is this machine's clock: no skew.
    assert checks["clock"]["status"] == "pass"
    _, table = doctor(config)
    [line] = [ln for ln in table.splitlines() if ln.startswith("connection hooks_only")]
    assert " not applicable " in line


def test_every_provider_refusing_its_credentials_fails_naming_the_cause(
    tmp_path: Path, vendors: dict[str, str]
) -> None:
    checks, table = refused(_config(tmp_path, vendors, wrong=True), "connection", PROVIDERS)
    for vendor in PROVIDERS:
        detail = checks[f"connection {vendor}"]["detail"]
        assert detail.startswith(f"{CALLS[vendor]}: credentials refused"), detail
    assert checks["connection hooks_only"]["status"] == "not applicable"
    assert WRONG not in table
    assert "PRIVATE KEY" not in table and OTHER_PRIVATE.splitlines()[1] not in table
