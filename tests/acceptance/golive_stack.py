"""A real ``inkbridge serve`` (the sandbox defaults, adjusted through ``INKBRIDGE_*``) for the
golive acceptance tests, a golive and an admin token on it, and ``inkbridge golive`` run against
it as a process, its JSON report read back as rows by check name."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http


@dataclass
class GoLiveServe:
    root: Path
    base: str
    token_file: Path
    admin: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    def admin_client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.admin}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def golive_client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def golive(self, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
        return run_golive(self.base, self.token_file, self.data / "sandbox-webhook.secret", *args)


def run_golive(
    base: str, token_file: Path, secret_file: Path, *args: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    done = subprocess.run(
        [
            *INKBRIDGE,
            "golive",
            "--target",
            base,
            "--token-file",
            str(token_file),
            "--secret-file",
            f"sandbox={secret_file}",
            "--format",
            "json",
            "--settle-seconds",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not done.stdout.strip():
        return done.returncode, {"error": {"detail": done.stderr}}
    report = json.loads(done.stdout)
    return done.returncode, {row["name"]: row for row in report["checks"]}


@contextmanager
def golive_serve(root: Path, **settings: str) -> Iterator[GoLiveServe]:
    """``serve`` on the sandbox defaults with ``INKBRIDGE_<KEY>`` = value for each setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    env["INKBRIDGE_DATA_DIR"] = str(root / "data")
    env.update({f"INKBRIDGE_{key.upper()}": value for key, value in settings.items()})
    port = free_port()
    server = Process([*INKBRIDGE, "serve", "--port", str(port)], root / "serve.log", env=env)
    os.chdir(root)  # no inkbridge.toml of the checkout is picked up
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token_file = root / "golive.token"
        token_file.write_text(cli(["tokens", "create", "--scope", "golive"], env=env).strip())
        admin = cli(["tokens", "create", "--scope", "admin"], env=env).strip()
        yield GoLiveServe(root, f"http://127.0.0.1:{port}", token_file, admin)
    finally:
        server.stop()
