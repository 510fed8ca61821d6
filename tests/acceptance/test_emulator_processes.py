"""Every vendor emulator runs as its own process, ``python -m inkbridge_emulators.<vendor>``,
from the ``inkbridge-emulators`` distribution the development set-up installs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import PYTHON, Process, free_port, wait_http

pytestmark = pytest.mark.slow

DESTINATIONS = ("dynamics", "hubspot", "marketo", "mautic", "pipedrive", "salesforce")
# Provider emulators deliver webhooks; a refused request shows the API is theirs.
PROVIDERS = {
    "acrobat_sign": ("GET", "/api/rest/v6/agreements/missing"),
    "documenso": ("GET", "/api/v2/envelope/missing"),
    "docuseal": ("GET", "/submissions/1"),
    "docusign": ("GET", "/restapi/v2.1/accounts/acc-1/envelopes/missing"),
    "dropbox_sign": ("GET", "/v3/signature_request/missing"),
    "pandadoc": ("GET", "/public/v1/documents/missing"),
}


@pytest.fixture
def started(tmp_path: Path) -> Iterator[dict[str, str]]:
    """All twelve emulators as processes; vendor -> base URL."""
    processes: dict[str, tuple[Process, str]] = {}
    try:
        for vendor in (*DESTINATIONS, *PROVIDERS):
            port = free_port()
            args = [PYTHON, "-m", f"inkbridge_emulators.{vendor}", "--port", str(port)]
            if vendor in PROVIDERS:
                args += ["--webhook-url", "http://127.0.0.1:9/webhooks"]
            else:
                args += ["--db", str(tmp_path / f"{vendor}.db")]
            process = Process(args, tmp_path / f"{vendor}.log").start()
            processes[vendor] = (process, f"http://127.0.0.1:{port}")
        for process, url in processes.values():
            wait_http(url + "/", proc=process.proc)
        yield {vendor: url for vendor, (_, url) in processes.items()}
    finally:
        for process, _ in processes.values():
            process.stop()


def test_every_emulator_serves_its_vendor_api_as_a_process(started: dict[str, str]) -> None:
    for vendor in DESTINATIONS:
        plan = httpx.get(started[vendor] + "/_faults", timeout=5).json()
        assert plan["mode"] == "ok", vendor
    for vendor, (method, path) in PROVIDERS.items():
        answer = httpx.request(method, started[vendor] + path, timeout=5)
        assert answer.status_code in {401, 403}, (vendor, answer.status_code, answer.text)
