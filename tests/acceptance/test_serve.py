"""`inkbridge serve` as a user runs it, with no config file: it refuses to put the sandbox on an
address other machines reach unless told to, and shows an admin token on the first start only."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.processes import INKBRIDGE, free_port, stop_process, wait_http

pytestmark = pytest.mark.slow
TOKEN = re.compile(r"ibk_[A-Za-z0-9_-]{20,}")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    return {**env, "INKBRIDGE_DATA_DIR": str(tmp_path / "data")}


def _listening(port: int) -> bool:
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as sock:
            sock.settimeout(0.5)
            try:
                if sock.connect_ex((address, port)) == 0:
                    return True
            except OSError:
                continue
    return False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_serve_refuses_to_put_the_sandbox_on_a_remote_address(tmp_path: Path, host: str) -> None:
    port = free_port()
    done = subprocess.run(
        [*INKBRIDGE, "serve", "--host", host, "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"refusing to serve the sandbox on {host!r}" in done.stderr
    assert "--host 127.0.0.1" in done.stderr and "--allow-remote-sandbox" in done.stderr
    assert "listening" not in done.stdout and not TOKEN.search(done.stdout + done.stderr)
    assert not _listening(port)


def _serve(tmp_path: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    # From the temp dir, so no inkbridge.toml of the checkout is picked up.
    with log.open("ab") as out:
        return subprocess.Popen(
            [*INKBRIDGE, "serve", *args],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_serve_starts_on_a_remote_address_when_told_and_shows_the_admin_token_once(
    tmp_path: Path,
) -> None:
    port = free_port()
    args = ("--host", "0.0.0.0", "--port", str(port), "--allow-remote-sandbox")
    base = f"http://127.0.0.1:{port}"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    first = _serve(tmp_path, first_log, *args)
    try:
        wait_http(base + "/healthz", proc=first)
        assert httpx.get(base + "/healthz", timeout=5).json() == {"status": "ok"}
        # The sandbox is up and asks for a token.
        assert httpx.get(base + "/sandbox/crm/records", timeout=5).status_code == 401
    finally:
        stop_process(first)
    [token] = TOKEN.findall(first_log.read_text())
    assert "shown once" in first_log.read_text()

    second = _serve(tmp_path, second_log, *args)
    try:
        wait_http(base + "/healthz", proc=second)
        records = httpx.get(
            base + "/sandbox/crm/records", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert records.status_code == 200
    finally:
        stop_process(second)
    later = second_log.read_text()
    assert not TOKEN.search(later)
    assert "inkbridge tokens create --scope admin" in later
