"""``inkbridge golive`` against a ``serve`` with DocuSign and Dropbox Sign connections: each is
signed in its vendor's own format (``X-DocuSign-Signature-1``; Dropbox Sign's ``event_hash`` in
a multipart form), answered with the vendor's exact acknowledgement, and every forgery the
vendor's scheme can catch, and a rotated-out key, is refused and stores nothing. The secrets
never appear in what golive prints."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.acceptance.stack import base_config, secret_ref, write_config
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http

pytestmark = pytest.mark.slow

SECRETS = {"docusign": "connect-key-golive-3f9a", "dropbox_sign": "dropbox-api-key-golive-77c1"}
RETIRED = {"docusign": "connect-key-retired-0b12", "dropbox_sign": "dropbox-api-key-retired-5e"}


@dataclass
class Deployment:
    root: Path
    base: str
    token_file: Path

    def secret_file(self, name: str, value: str) -> Path:
        path = self.root / "golive-secrets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(value, encoding="utf-8")
        return path

    def golive(self, *args: str) -> subprocess.CompletedProcess[str]:
        options = []
        for name, value in SECRETS.items():
            options += ["--secret-file", f"{name}={self.secret_file(name, value)}"]
        return subprocess.run(
            [
                *INKBRIDGE,
                *("golive", "--target", self.base, "--token-file", str(self.token_file)),
                *("--settle-seconds", "1", *options, *args),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("golive-vendors")
    port = free_port()
    tree = base_config(root, port)
    tree["connections"].update(
        {
            name: {"provider": name, "secrets": [secret_ref(root, name, value)]}
            for name, value in SECRETS.items()
        }
    )
    config = write_config(root, tree)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    server = Process([*INKBRIDGE, "serve", "--config", str(config)], root / "serve.log", env=env)
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token = cli(["tokens", "create", "--config", str(config), "--scope", "golive"], env=env)
        token_file = root / "golive.token"
        token_file.write_text(token.strip(), encoding="utf-8")
        yield Deployment(root, f"http://127.0.0.1:{port}", token_file)
    finally:
        server.stop()


def _rows(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {row["name"]: row for row in json.loads(done.stdout)["checks"]}


def test_docusign_and_dropbox_sign_are_checked_in_their_own_formats(
    deployment: Deployment,
) -> None:
    retired = []
    for name, value in RETIRED.items():
        retired += [
            "--retired-secret-file",
            f"{name}={deployment.secret_file(name + '.old', value)}",
        ]
    done = deployment.golive(
        *("--connection", "docusign", "--connection", "dropbox_sign", "--format", "json"),
        *("--only", "signatures", "--only", "rotated-key", "--only", "duplicates"),
        *retired,
    )
    rows = _rows(done)
    assert done.returncode == 0, done.stdout + done.stderr
    docusign, dropbox = rows["signatures[docusign]"], rows["signatures[dropbox_sign]"]
    for row in (docusign, dropbox):
        assert row["outcome"] == "pass", row
        evidence = row["evidence"]
        assert isinstance(evidence, dict)
        assert (evidence["signed"], evidence["acknowledgement"]) == (200, "exact")
        assert evidence["tampered signature"] == evidence["tampered body"] == 401
    # Neither scheme signs a time: replays are left to deduplication, and the row says so.
    assert docusign["evidence"]["not signed by the vendor"] == [  # type: ignore[index]
        "stale timestamp",
        "future timestamp",
    ]
    for name in SECRETS:
        assert rows[f"rotated-key[{name}]"]["evidence"] == {"status": 401, "envelopes": 0}
        assert rows[f"duplicates[{name}]"]["outcome"] == "pass", rows[f"duplicates[{name}]"]
    assert rows["clean-up"]["outcome"] == "pass"
    for value in (*SECRETS.values(), *RETIRED.values()):
        assert value not in done.stdout + done.stderr


def test_the_table_shows_each_vendor_row_and_a_wrong_key_fails_naming_the_answer(
    deployment: Deployment,
) -> None:
    wrong = deployment.secret_file("docusign-wrong", "not-the-connect-key")
    done = deployment.golive(
        *("--connection", "docusign", "--secret-file", f"docusign={wrong}"),
        *("--only", "signatures", "--format", "json"),
    )
    rows = _rows(done)
    assert done.returncode == 1
    assert rows["signatures[docusign]"]["outcome"] == "fail"
    assert "signed delivery: answered 401" in str(rows["signatures[docusign]"]["detail"])
    assert rows["clean-up"]["outcome"] == "pass"
