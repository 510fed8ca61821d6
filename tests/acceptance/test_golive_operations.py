"""``inkbridge golive``'s operational checks against a real ``inkbridge serve``: a rotated-out
key is refused (and the check fails when the deployment still accepts the key it is given as
retired), the serve's own log holds no test email or name, and the evidence row reads chain
verification over HTTP (failing once an audit entry is edited in the deployment's database)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http

pytestmark = pytest.mark.slow


@dataclass
class Serve:
    root: Path
    base: str
    token_file: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def golive(self, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
        done = subprocess.run(
            [
                *INKBRIDGE,
                "golive",
                "--target",
                self.base,
                "--token-file",
                str(self.token_file),
                "--secret-file",
                f"sandbox={self.data / 'sandbox-webhook.secret'}",
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
        report = json.loads(done.stdout)
        return done.returncode, {row["name"]: row for row in report["checks"]}


@contextmanager
def _serve(root: Path) -> Iterator[Serve]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    env["INKBRIDGE_DATA_DIR"] = str(root / "data")
    port = free_port()
    server = Process([*INKBRIDGE, "serve", "--port", str(port)], root / "serve.log", env=env)
    os.chdir(root)  # no inkbridge.toml of the checkout is picked up
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token_file = root / "golive.token"
        token_file.write_text(cli(["tokens", "create", "--scope", "golive"], env=env).strip())
        yield Serve(root, f"http://127.0.0.1:{port}", token_file)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with _serve(tmp_path_factory.mktemp("golive-ops")) as running:
        yield running


def _other_secret(path: Path) -> Path:
    path.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    return path


def test_a_rotated_out_key_is_refused_the_log_is_clean_and_the_chains_verify(
    serve: Serve, tmp_path: Path
) -> None:
    retired = _other_secret(tmp_path / "retired.secret")
    code, rows = serve.golive(
        "--retired-secret-file",
        f"sandbox={retired}",
        "--log-file",
        str(serve.root / "serve.log"),
        *("--only", "rotated-key", "--only", "evidence", "--only", "hygiene"),
    )
    assert code == 0, rows
    assert rows["rotated-key[sandbox]"]["outcome"] == "pass"
    assert rows["rotated-key[sandbox]"]["evidence"] == {"status": 401, "envelopes": 0}
    assert rows["evidence"]["outcome"] == "pass"
    assert rows["hygiene"]["outcome"] == "pass"
    assert rows["hygiene"]["evidence"]["values_sought"] == 2
    assert rows["clean-up"]["outcome"] == "pass"


def test_a_deployment_still_accepting_the_retired_key_fails_the_check(serve: Serve) -> None:
    # The key given as retired is the one the deployment signs with today.
    current = serve.data / "sandbox-webhook.secret"
    code, rows = serve.golive(
        "--retired-secret-file", f"sandbox={current}", "--only", "rotated-key"
    )
    failing = rows["rotated-key[sandbox]"]
    assert code == 1
    assert failing["outcome"] == "fail"
    assert "retired secret answered 200" in str(failing["detail"])
    assert "made envelope" in str(failing["detail"])


def test_without_a_retired_key_or_a_log_file_those_rows_are_not_applicable(serve: Serve) -> None:
    code, rows = serve.golive("--only", "rotated-key", "--only", "hygiene")
    assert code == 0
    assert rows["rotated-key[sandbox]"]["outcome"] == "not applicable"
    assert rows["hygiene"]["outcome"] == "not applicable"


def test_an_edited_audit_entry_fails_the_evidence_check(tmp_path: Path) -> None:
    with _serve(tmp_path) as running:
        code, rows = running.golive("--only", "evidence")
        assert rows["evidence"]["outcome"] == "pass", rows
        [database] = [p for p in running.data.rglob("*.db") if _has_audit(p)]
        with sqlite3.connect(database) as conn:
            conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 1")
        code, rows = running.golive("--only", "evidence")
    assert code == 1
    assert rows["evidence"]["outcome"] == "fail"
    assert "audit" in str(rows["evidence"]["detail"])


def _has_audit(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'"
        ).fetchone()
        if not found[0]:
            return False
        return bool(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
