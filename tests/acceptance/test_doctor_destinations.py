"""`inkbridge doctor` checks every CRM and marketing destination's credentials with one
harmless authenticated call, against each vendor's emulator run as a process: good
credentials pass naming the call, refused ones fail naming the destination and the refusal,
and no secret is ever printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.destination_vendors import Emulator, destination_settings
from tests.acceptance.stack import base_config, secret_ref
from tests.acceptance.test_doctor import migrated, refused, rows
from tests.support.processes import free_port

pytestmark = pytest.mark.slow
VENDORS = ("hubspot", "salesforce", "dynamics", "pipedrive", "marketo", "mautic")
# The call each check makes: the vendor's own harmless read.
CALLS = {
    "hubspot": "GET /account-info/v3/details",
    "salesforce": "GET /services/data/v60.0/limits",
    "dynamics": "GET /api/data/v9.2/WhoAmI",
    "pipedrive": "GET /api/v1/users/me",
    "marketo": "GET /rest/v1/leads.json",
    "mautic": "GET /api/contacts",
}
SECRET_KEYS = {
    "hubspot": "token",
    "salesforce": "client_secret",
    "dynamics": "client_secret",
    "pipedrive": "api_token",
    "marketo": "client_secret",
    "mautic": "client_secret",
}
WRONG = "wrong-secret-for-doctor"


@pytest.fixture(scope="module")
def vendors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("vendors")
    emulators = [Emulator(vendor, root) for vendor in VENDORS]
    try:
        for emulator in emulators:
            emulator.start()
        yield {emulator.vendor: emulator.url for emulator in emulators}
    finally:
        for emulator in emulators:
            emulator.stop()


def _config(root: Path, urls: dict[str, str], *, wrong: bool) -> Path:
    tree: dict[str, Any] = base_config(root, free_port())
    destinations = destination_settings(root, urls, f"http://127.0.0.1:{free_port()}/", "s")
    for vendor in VENDORS:
        dest = destinations[vendor]
        if wrong:
            key = SECRET_KEYS[vendor]
            dest["credentials"][key] = secret_ref(root, f"{vendor}-wrong", WRONG)
        tree["destinations"][vendor] = dest
    return migrated(root, tree)


def test_every_vendor_destination_with_good_credentials_passes_naming_its_call(
    tmp_path: Path, vendors: dict[str, str]
) -> None:
    code, checks = rows(_config(tmp_path, vendors, wrong=False))
    assert code == 0, [row for row in checks.values() if row["status"] != "pass"]
    for vendor in VENDORS:
        row = checks[f"destination {vendor}"]
        assert row["status"] == "pass", row
        assert CALLS[vendor] in row["detail"] and ": 200" in row["detail"], row
    assert checks["clock"]["status"] == "pass"


def test_every_vendor_destination_refusing_its_credentials_fails_naming_the_cause(
    tmp_path: Path, vendors: dict[str, str]
) -> None:
    _, table = refused(_config(tmp_path, vendors, wrong=True), "destination", VENDORS)
    assert WRONG not in table
