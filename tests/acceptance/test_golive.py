"""``inkbridge golive`` against a real ``inkbridge serve`` (sandbox defaults): every implemented
check passes and the test namespace is erased; given a signing secret other than the
deployment's, the signature check fails naming the refused delivery; a golive token may erase
only its own test leads."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.golive_target import GoliveTarget, golive_target
from tests.support.processes import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoliveTarget]:
    with golive_target(tmp_path_factory.mktemp("golive")) as target:
        yield target


def test_every_implemented_check_passes_against_serve_and_nothing_is_left(
    deployment: GoliveTarget,
) -> None:
    done = deployment.golive_signed()
    rows = done.rows
    assert done.code == 0, done.output
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
    deployment: GoliveTarget, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    done = deployment.golive(
        "--secret-file", f"sandbox={wrong}", "--only", "signatures", "--only", "clean-up"
    )
    rows = done.rows
    assert done.code == 1
    failing = rows["signatures[sandbox]"]
    assert failing["outcome"] == "fail"
    assert "signed delivery: answered 401" in str(failing["detail"])
    assert "made no envelope" not in str(failing["detail"])  # refused: no envelope waited for
    assert rows["clean-up"]["outcome"] == "pass"


def test_a_golive_token_erases_only_its_own_test_leads(deployment: GoliveTarget) -> None:
    admin = cli(["tokens", "create", "--scope", "admin"], env=deployment.env).strip()
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
