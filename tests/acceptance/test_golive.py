"""``inkbridge golive`` against a real ``inkbridge serve`` (sandbox defaults): every implemented
check passes and the test namespace is erased; given a signing secret other than the
deployment's, the signature check fails naming the refused delivery; a golive token may erase
only its own test leads."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http

pytestmark = pytest.mark.slow


@dataclass
class Deployment:
    root: Path
    base: str
    token_file: Path

    @property
    def secret_file(self) -> Path:
        return self.root / "data" / "sandbox-webhook.secret"

    def golive(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *INKBRIDGE,
                "golive",
                "--target",
                self.base,
                "--token-file",
                str(self.token_file),
                "--format",
                "json",
                "--settle-seconds",
                "1",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    return {**env, "INKBRIDGE_DATA_DIR": str(root / "data")}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("golive")
    port = free_port()
    env = _env(root)
    server = Process([*INKBRIDGE, "serve", "--port", str(port)], root / "serve.log", env=env)
    os.chdir(root)  # no inkbridge.toml of the checkout is picked up
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token = cli(["tokens", "create", "--scope", "golive"], env=env).strip()
        token_file = root / "golive.token"
        token_file.write_text(token, encoding="utf-8")
        yield Deployment(root, f"http://127.0.0.1:{port}", token_file)
    finally:
        server.stop()


def _rows(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    report = json.loads(done.stdout)
    return {row["name"]: row for row in report["checks"]}


def test_every_implemented_check_passes_against_serve_and_nothing_is_left(
    deployment: Deployment,
) -> None:
    done = deployment.golive("--secret-file", f"sandbox={deployment.secret_file}")
    rows = _rows(done)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in (
        "signatures[sandbox]",
        "duplicates[sandbox]",
        "order[sandbox]",
        "conflicting-terminal[sandbox]",
        "consent",
        "attribution",
        "residency",
        "legal-state[sandbox]",
        "evidence",
        "clean-up",
    ):
        assert rows[name]["outcome"] == "pass", rows[name]
    assert rows["clean-up"]["evidence"]["erased"] == rows["clean-up"]["evidence"]["leads"]


def test_a_secret_other_than_the_deployments_fails_the_signature_check(
    deployment: Deployment, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    done = deployment.golive(
        "--secret-file", f"sandbox={wrong}", "--only", "signatures", "--only", "clean-up"
    )
    rows = _rows(done)
    assert done.returncode == 1
    failing = rows["signatures[sandbox]"]
    assert failing["outcome"] == "fail"
    assert "signed delivery: answered 401" in str(failing["detail"])
    assert rows["clean-up"]["outcome"] == "pass"


def test_a_golive_token_erases_only_its_own_test_leads(deployment: Deployment) -> None:
    env = _env(deployment.root)
    admin = cli(["tokens", "create", "--scope", "admin"], env=env).strip()
    with httpx.Client(base_url=deployment.base, timeout=30) as client:
        person = client.post(
            "/v1/leads",
            json={"email": "ada@example.com", "first_name": "Ada"},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()
        golive = {"Authorization": f"Bearer {deployment.token_file.read_text()}"}
        refused = client.post(f"/v1/leads/{person['id']}/erasure", headers=golive)
        kept = client.get(f"/v1/leads/{person['id']}", headers=golive).json()
    assert refused.status_code == 403
    assert kept["email"] == "ada@example.com"
