"""``inkbridge golive`` against a ``serve`` whose connections golive cannot speak to in a vendor
format of its own: mapped senders (``standard_webhooks`` with a ``[connections.NAME.mapping]``,
signed with Standard Webhooks or a plain HMAC header), whose vocabulary golive reads from the
deployment; and Dropbox Sign, whose completion waits for its API: seeded in the Dropbox Sign
emulator (a process) where the deployment marks ``golive_may_seed``, otherwise its lifecycle
rows are not applicable, with the reason."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.golive_target import GoliveRun, run_golive
from tests.acceptance.stack import base_config, secret_ref, write_config
from tests.support.processes import INKBRIDGE, PYTHON, Process, cli, free_port, wait_http
from tests.support.senders import ACME_MAPPING as SENDER_MAPPING

pytestmark = pytest.mark.slow

ACME_SECRET = "whsec_YWNtZS1nb2xpdmUtc2VuZGVyLXNlY3JldA=="
PLAIN_SECRET = "plain-golive-hmac-secret"
DROPBOX_KEY = "dropbox-golive-emulator-key"
UNSEEDED_KEY = "dropbox-golive-unseeded-key"
ACME_MAPPING = {
    **SENDER_MAPPING,
    "envelope_id": "data.document.id",
    "metadata": "data.document.tags",
}
PLAIN_MAPPING = {
    "events": {
        "doc.sent": "sent",
        "doc.opened": "viewed",
        "doc.signed": "signed",
        "doc.complete": "completed",
        "doc.rejected": "declined",
    },
    "type": "meta.event",
    "event_id": "meta.id",
    "occurred_at": "meta.at",
    "envelope_id": "content.document_id",
    "recipient_id": "content.signers.0.id",
    "metadata": "content.labels",
}
LIFECYCLE_ROWS = ("order", "legal-state", "conflicting-terminal")


@dataclass
class Deployment:
    root: Path
    base: str
    token_file: Path

    def golive(self, *args: str, **secrets: str) -> GoliveRun:
        options = []
        for name, value in secrets.items():
            path = self.root / "golive-secrets" / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(value, encoding="utf-8")
            options += ["--secret-file", f"{name}={path}"]
        return run_golive(self.base, self.token_file, *options, *args)


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("golive-senders")


@pytest.fixture(scope="module")
def emulator(tmp_root: Path) -> Iterator[tuple[str, int]]:
    """The Dropbox Sign emulator as a process, delivering its callbacks to the deployment's
    port (chosen here): its base URL and that port."""
    port, deployment_port = free_port(), free_port()
    process = Process(
        [
            *(PYTHON, "-m", "inkbridge_emulators.dropbox_sign", "--port", str(port)),
            "--webhook-url",
            f"http://127.0.0.1:{deployment_port}/v1/webhooks/dropbox_sign",
            *("--api-key", DROPBOX_KEY),
        ],
        tmp_root / "dropbox-emulator.log",
    ).start()
    try:
        wait_http(f"http://127.0.0.1:{port}/_emulator/health", proc=process.proc)
        yield f"http://127.0.0.1:{port}", deployment_port
    finally:
        process.stop()


@pytest.fixture(scope="module")
def deployment(tmp_root: Path, emulator: tuple[str, int]) -> Iterator[Deployment]:
    emulator_url, port = emulator
    tree = base_config(tmp_root, port, reconcile_interval_seconds=0.5)
    tree["destinations"] = {"crm": {"kind": "sandbox_crm", "golive_may_fault": True}}
    tree["connections"].update(
        {
            "acme": {
                "provider": "standard_webhooks",
                "secrets": [secret_ref(tmp_root, "acme", ACME_SECRET)],
                "mapping": ACME_MAPPING,
            },
            "plain": {
                "provider": "standard_webhooks",
                "secrets": [secret_ref(tmp_root, "plain", PLAIN_SECRET)],
                "mapping": PLAIN_MAPPING,
                "signature": {"scheme": "hmac_sha256", "header": "X-Plain-Signature"},
            },
            "dropbox_sign": {
                "provider": "dropbox_sign",
                "secrets": [secret_ref(tmp_root, "dropbox", DROPBOX_KEY)],
                "api_url": f"{emulator_url}/v3",
                "api_key": secret_ref(tmp_root, "dropbox-api", DROPBOX_KEY),
                "golive_may_seed": True,
            },
            "dropbox_unseeded": {
                "provider": "dropbox_sign",
                "secrets": [secret_ref(tmp_root, "dropbox-unseeded", UNSEEDED_KEY)],
            },
        }
    )
    config = write_config(tmp_root, tree)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    server = Process(
        [*INKBRIDGE, "serve", "--config", str(config)], tmp_root / "serve.log", env=env
    )
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token = cli(["tokens", "create", "--config", str(config), "--scope", "golive"], env=env)
        token_file = tmp_root / "golive.token"
        token_file.write_text(token.strip(), encoding="utf-8")
        yield Deployment(tmp_root, f"http://127.0.0.1:{port}", token_file)
    finally:
        server.stop()


def _outcomes(run: GoliveRun) -> dict[str, str]:
    return {name: str(row.get("outcome")) for name, row in run.rows.items()}


def test_the_deployment_serves_each_connections_mapping_and_no_secret(
    deployment: Deployment,
) -> None:
    token = deployment.token_file.read_text().strip()
    answer = httpx.get(
        f"{deployment.base}/v1/admin/golive/connections",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    listed: dict[str, Any] = {c["name"]: c for c in answer.json()["connections"]}
    assert listed["acme"]["mapping"]["events"] == ACME_MAPPING["events"]
    assert listed["plain"]["signature"]["header"] == "x-plain-signature"
    assert listed["dropbox_sign"]["terminal_needs_confirmation"] is True
    assert listed["dropbox_sign"]["seed"]["api_url"].endswith("/v3")
    assert listed["dropbox_unseeded"]["seed"] is None
    assert listed["sandbox"]["mapping"] is None
    for secret in (ACME_SECRET, PLAIN_SECRET, DROPBOX_KEY, UNSEEDED_KEY):
        assert secret not in answer.text
    assert (
        httpx.get(f"{deployment.base}/v1/admin/golive/connections", timeout=10).status_code == 401
    )


def test_every_row_of_a_mapped_sender_passes(deployment: Deployment) -> None:
    run = deployment.golive(
        *("--connection", "acme", "--connection", "plain", "--skip", "hygiene"),
        acme=ACME_SECRET,
        plain=PLAIN_SECRET,
    )
    outcomes = _outcomes(run)
    assert run.code == 0, run.output
    for conn in ("acme", "plain"):
        for check in ("signatures", "duplicates", *LIFECYCLE_ROWS):
            assert outcomes[f"{check}[{conn}]"] == "pass", run.rows[f"{check}[{conn}]"]
    for check in ("consent", "attribution", "residency", "failure-injection", "clean-up"):
        assert outcomes[check] == "pass", run.rows[check]
    # The plain HMAC scheme signs no time: the row names the cases it cannot refuse.
    plain = run.rows["signatures[plain]"]["evidence"]
    assert plain["not signed by the vendor"] == ["stale timestamp", "future timestamp"]
    assert run.rows["signatures[acme]"]["evidence"]["stale timestamp"] == 401


def test_a_mapped_sender_signed_with_the_wrong_secret_fails_its_signature_row(
    deployment: Deployment,
) -> None:
    run = deployment.golive(
        *("--connection", "plain", "--only", "signatures"), plain="not-the-plain-secret"
    )
    assert run.code == 1
    assert run.rows["signatures[plain]"]["outcome"] == "fail"
    assert "signed delivery: answered 401" in run.rows["signatures[plain]"]["detail"]


def test_dropbox_sign_seeded_in_its_emulator_passes_its_lifecycle_rows(
    deployment: Deployment,
) -> None:
    run = deployment.golive(
        *("--connection", "dropbox_sign", "--skip", "hygiene", "--skip", "failure-injection"),
        dropbox_sign=DROPBOX_KEY,
    )
    outcomes = _outcomes(run)
    assert run.code == 0, run.output
    for check in ("signatures", "duplicates", *LIFECYCLE_ROWS):
        assert outcomes[f"{check}[dropbox_sign]"] == "pass", run.rows[f"{check}[dropbox_sign]"]
    for check in ("attribution", "consent", "clean-up"):
        assert outcomes[check] == "pass", run.rows[check]


def test_dropbox_sign_without_an_emulator_reports_its_lifecycle_rows_not_applicable(
    deployment: Deployment,
) -> None:
    run = deployment.golive(
        *("--connection", "dropbox_unseeded", "--skip", "hygiene"),
        dropbox_unseeded=UNSEEDED_KEY,
    )
    outcomes = _outcomes(run)
    assert run.code == 0, run.output
    for check in LIFECYCLE_ROWS:
        row = run.rows[f"{check}[dropbox_unseeded]"]
        assert row["outcome"] == "not applicable", row
        assert "golive_may_seed" in row["detail"]
    for check in ("signatures", "duplicates"):
        assert outcomes[f"{check}[dropbox_unseeded]"] == "pass"
    assert outcomes["failure-injection"] == "not applicable"
    assert outcomes["clean-up"] == "pass"
