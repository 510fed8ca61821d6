"""A real ``inkbridge serve`` on sandbox defaults (adjusted through ``INKBRIDGE_*``) for
``inkbridge golive`` to check: started in its own folder with a golive and an admin token, and
golive run against it as a process whose JSON report is read back as rows by check name."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http


class GoliveRun(NamedTuple):
    """One golive run: its exit code, its report's rows by check name, what it printed (a run
    that printed no report has one row, ``error``, holding what it wrote to stderr)."""

    code: int
    rows: dict[str, dict[str, Any]]
    output: str


def run_golive(base: str, token_file: Path, *args: str) -> GoliveRun:
    done = subprocess.run(
        [
            *INKBRIDGE,
            "golive",
            "--target",
            base,
            "--token-file",
            str(token_file),
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
        return GoliveRun(done.returncode, {"error": {"detail": done.stderr}}, done.stderr)
    report = json.loads(done.stdout)
    rows = {row["name"]: row for row in report["checks"]}
    return GoliveRun(done.returncode, rows, done.stdout + done.stderr)


@dataclass(frozen=True)
class GoliveTarget:
    """A running deployment and what golive (and a test acting as its operator) needs."""

    root: Path
    base: str
    token_file: Path
    admin: str
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def secret_file(self) -> Path:
        """The sandbox signing secret the deployment generated for itself."""
        return self.data / "sandbox-webhook.secret"

    def golive(self, *args: str) -> GoliveRun:
        return run_golive(self.base, self.token_file, *args)

    def golive_signed(self, *args: str) -> GoliveRun:
        """golive given the deployment's own sandbox signing secret."""
        return self.golive("--secret-file", f"sandbox={self.secret_file}", *args)

    def admin_client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.admin}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def golive_client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


@contextmanager
def golive_target(root: Path, **settings: str) -> Iterator[GoliveTarget]:
    """``inkbridge serve`` run in ``root`` until the block ends, with ``INKBRIDGE_<KEY>`` = value
    for each setting (no inkbridge.toml of the checkout is picked up, no INKBRIDGE_ variable
    of the caller's environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    env["INKBRIDGE_DATA_DIR"] = str(root / "data")
    env.update({f"INKBRIDGE_{key.upper()}": value for key, value in settings.items()})
    port = free_port()
    server = Process([*INKBRIDGE, "serve", "--port", str(port)], root / "serve.log", env=env)
    os.chdir(root)
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token_file = root / "golive.token"
        token = cli(["tokens", "create", "--scope", "golive"], env=env).strip()
        token_file.write_text(token, encoding="utf-8")
        admin = cli(["tokens", "create", "--scope", "admin"], env=env).strip()
        yield GoliveTarget(root, f"http://127.0.0.1:{port}", token_file, admin, env)
    finally:
        server.stop()
