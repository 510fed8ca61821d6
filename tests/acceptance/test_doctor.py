"""`inkbridge doctor` as an operator runs it: a pass/fail table that names what is wrong (a
database it cannot open, a secret that is not there, a destination refusing its credentials)
and exits 1, and passes on a good configuration."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.stack import base_config, secret_ref, write_config
from tests.support.processes import INKBRIDGE, PYTHON, Process, free_port, wait_http

pytestmark = pytest.mark.slow
GOOD_TOKEN = "pat-doctor-good"


def doctor(config: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [*INKBRIDGE, "doctor", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout + done.stderr


def rows(config: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    code, out = doctor(config, "--format", "json", env=env)
    report = json.loads(out[out.index("{") :])
    return code, {row["name"]: row for row in report["checks"]}


def refused(config: Path, kind: str, names: Collection[str]) -> tuple[dict[str, Any], str]:
    """doctor run where each of ``names`` (rows ``<kind> <name>``) refuses its credentials: it
    exits 1, each such row fails naming the cause, and they are the table's failing rows."""
    code, checks = rows(config)
    assert code == 1
    for name in names:
        row = checks[f"{kind} {name}"]
        assert row["status"] == "fail", row
        assert "credentials refused" in row["detail"], row
    _, table = doctor(config)
    failing = [line for line in table.splitlines() if " fail " in line]
    assert {line.split()[1] for line in failing} == set(names)
    return checks, table


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("hubspot")
    port = free_port()
    emulator = Process(
        [
            PYTHON,
            "-m",
            "inkbridge_emulators.hubspot",
            "--port",
            str(port),
            "--private-app-token",
            GOOD_TOKEN,
        ],
        root / "hubspot.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_state", proc=emulator.proc)
        yield url
    finally:
        emulator.stop()


def config_with_hubspot(root: Path, hubspot: str, token: str) -> dict[str, Any]:
    tree = base_config(root, free_port())
    tree["destinations"]["hubspot"] = {
        "kind": "hubspot",
        "url": hubspot,
        "credentials": {"token": secret_ref(root, "hubspot-token", token)},
    }
    return tree


def migrated(root: Path, tree: dict[str, Any]) -> Path:
    config = write_config(root, tree)
    subprocess.run(
        [*INKBRIDGE, "migrate", "--config", str(config)], check=True, capture_output=True
    )
    return config


def test_a_good_configuration_passes_every_check_it_can_make(tmp_path: Path, hubspot: str) -> None:
    config = migrated(tmp_path, config_with_hubspot(tmp_path, hubspot, GOOD_TOKEN))
    code, checks = rows(config)
    assert code == 0, checks
    assert checks["database default"]["status"] == "pass"
    assert checks["region key default"]["status"] == "pass"
    assert checks["destination hubspot"]["status"] == "pass"
    assert "/account-info/v3/details" in checks["destination hubspot"]["detail"]
    # The emulator's Date header is this machine's clock: no skew.
    assert checks["clock"]["status"] == "pass"
    assert "hubspot" in checks["clock"]["detail"]
    # The sandbox lives inside `serve`: said so, never passed off as checked.
    assert checks["connection sandbox"]["status"] == "not checked"


def test_the_default_sandbox_configuration_passes_once_migrated(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    env["INKBRIDGE_DATA_DIR"] = str(tmp_path / "data")
    subprocess.run([*INKBRIDGE, "migrate"], cwd=tmp_path, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*INKBRIDGE, "doctor"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "database default" in done.stdout and " fail " not in done.stdout


def test_a_destination_refusing_its_credentials_fails_naming_it(
    tmp_path: Path, hubspot: str
) -> None:
    config = migrated(tmp_path, config_with_hubspot(tmp_path, hubspot, "pat-revoked"))
    code, out = doctor(config)
    assert code == 1
    [line] = [ln for ln in out.splitlines() if ln.startswith("destination hubspot")]
    assert " fail " in line and "credentials refused, 401" in line
    assert "pat-revoked" not in out  # never the token


def test_a_wrong_database_url_fails_naming_the_region_and_the_cause(tmp_path: Path) -> None:
    tree = base_config(tmp_path, free_port())
    port = free_port()  # nothing listens there
    tree["regions"]["default"] = {
        "database_url": f"postgresql+psycopg://inkbridge:hunter2@127.0.0.1:{port}/inkbridge"
    }
    code, checks = rows(write_config(tmp_path, tree))
    assert code == 1
    row = checks["database default"]
    assert row["status"] == "fail"
    assert f"127.0.0.1:{port}" in row["detail"] and "hunter2" not in row["detail"]


def test_an_unmigrated_database_fails_saying_to_migrate(tmp_path: Path) -> None:
    code, checks = rows(write_config(tmp_path, base_config(tmp_path, free_port())))
    assert code == 1
    assert checks["database default"]["status"] == "fail"
    assert "inkbridge migrate" in checks["database default"]["detail"]


def test_a_missing_secret_fails_naming_its_key_and_the_rest_is_still_checked(
    tmp_path: Path, hubspot: str
) -> None:
    tree = config_with_hubspot(tmp_path, hubspot, GOOD_TOKEN)
    config = migrated(tmp_path, tree)
    tree["destinations"]["hubspot"]["credentials"]["token"] = "env:DOCTOR_HUBSPOT_TOKEN"
    write_config(tmp_path, tree)
    env = {k: v for k, v in os.environ.items() if k != "DOCTOR_HUBSPOT_TOKEN"}
    done = subprocess.run(
        [*INKBRIDGE, "doctor", "--config", str(config), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert not report["ok"]
    failures = [row for row in report["checks"] if row["status"] == "fail"]
    assert [row["name"] for row in failures] == ["secret"]
    assert "destinations.hubspot.credentials.token" in failures[0]["detail"]
    assert "DOCTOR_HUBSPOT_TOKEN" in failures[0]["detail"]
    by_name = {row["name"]: row for row in report["checks"]}
    assert by_name["database default"]["status"] == "pass"
    assert by_name["destination hubspot"]["status"] == "not checked"
