"""``inkbridge golive``'s operational checks against a real ``inkbridge serve``: a rotated-out
key is refused (and the check fails when the deployment still accepts the key it is given as
retired), the serve's own log holds no test email or name, and the evidence row reads chain
verification over HTTP (failing once an audit entry is edited in the deployment's database)."""

from __future__ import annotations

import base64
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.golive_target import GoliveTarget, golive_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoliveTarget]:
    with golive_target(tmp_path_factory.mktemp("golive-ops")) as running:
        yield running


def _other_secret(path: Path) -> Path:
    path.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    return path


def test_a_rotated_out_key_is_refused_the_log_is_clean_and_the_chains_verify(
    serve: GoliveTarget, tmp_path: Path
) -> None:
    retired = _other_secret(tmp_path / "retired.secret")
    done = serve.golive_signed(
        "--retired-secret-file",
        f"sandbox={retired}",
        "--log-file",
        str(serve.root / "serve.log"),
        *("--only", "rotated-key", "--only", "evidence", "--only", "hygiene"),
    )
    assert done.code == 0, done.rows
    assert done.rows["rotated-key[sandbox]"]["outcome"] == "pass"
    assert done.rows["rotated-key[sandbox]"]["evidence"] == {"status": 401, "envelopes": 0}
    assert done.rows["evidence"]["outcome"] == "pass"
    assert done.rows["hygiene"]["outcome"] == "pass"
    assert done.rows["hygiene"]["evidence"]["values_sought"] == 2
    assert done.rows["clean-up"]["outcome"] == "pass"


def test_a_deployment_still_accepting_the_retired_key_fails_the_check(serve: GoliveTarget) -> None:
    # The key given as retired is the one the deployment signs with today.
    current = serve.secret_file
    done = serve.golive_signed(
        "--retired-secret-file", f"sandbox={current}", "--only", "rotated-key"
    )
    failing = done.rows["rotated-key[sandbox]"]
    assert done.code == 1
    assert failing["outcome"] == "fail"
    assert "retired secret answered 200" in str(failing["detail"])
    assert "made envelope" in str(failing["detail"])


def test_without_a_retired_key_or_a_log_file_those_rows_are_not_applicable(
    serve: GoliveTarget,
) -> None:
    done = serve.golive_signed("--only", "rotated-key", "--only", "hygiene")
    assert done.code == 0
    assert done.rows["rotated-key[sandbox]"]["outcome"] == "not applicable"
    assert done.rows["hygiene"]["outcome"] == "not applicable"


def test_an_edited_audit_entry_fails_the_evidence_check(tmp_path: Path) -> None:
    with golive_target(tmp_path) as running:
        done = running.golive_signed("--only", "evidence")
        assert done.rows["evidence"]["outcome"] == "pass", done.rows
        [database] = [p for p in running.data.rglob("*.db") if _has_audit(p)]
        with sqlite3.connect(database) as conn:
            conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 1")
        done = running.golive_signed("--only", "evidence")
    assert done.code == 1
    assert done.rows["evidence"]["outcome"] == "fail"
    assert "audit" in str(done.rows["evidence"]["detail"])


def _has_audit(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'"
        ).fetchone()
        if not found[0]:
            return False
        return bool(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
