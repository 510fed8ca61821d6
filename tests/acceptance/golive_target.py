"""A real ``inkbridge serve`` on sandbox defaults for ``inkbridge golive`` to check: started in
its own folder with a golive token on file, and golive run against it as a process whose JSON
report is read back as rows by check name."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http


@dataclass(frozen=True)
class GoliveRun:
    """One golive run: its exit code, its report's rows by check name, what it printed."""

    code: int
    rows: dict[str, dict[str, object]]
    output: str


@dataclass(frozen=True)
class GoliveTarget:
    """A running deployment and what golive needs to reach it."""

    root: Path
    base: str
    token_file: Path
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def secret_file(self) -> Path:
        """The sandbox signing secret the deployment generated for itself."""
        return self.data / "sandbox-webhook.secret"

    def golive(self, *args: str) -> GoliveRun:
        done = subprocess.run(
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
        report = json.loads(done.stdout)
        rows = {row["name"]: row for row in report["checks"]}
        return GoliveRun(done.returncode, rows, done.stdout + done.stderr)

    def golive_signed(self, *args: str) -> GoliveRun:
        """golive given the deployment's own sandbox signing secret."""
        return self.golive("--secret-file", f"sandbox={self.secret_file}", *args)


@contextmanager
def golive_target(root: Path) -> Iterator[GoliveTarget]:
    """``inkbridge serve`` run in ``root`` (no inkbridge.toml of the checkout is picked up, no
    INKBRIDGE_ variable of the caller's environment) until the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    env["INKBRIDGE_DATA_DIR"] = str(root / "data")
    port = free_port()
    server = Process([*INKBRIDGE, "serve", "--port", str(port)], root / "serve.log", env=env)
    os.chdir(root)
    server.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        token_file = root / "golive.token"
        token = cli(["tokens", "create", "--scope", "golive"], env=env).strip()
        token_file.write_text(token, encoding="utf-8")
        yield GoliveTarget(root, f"http://127.0.0.1:{port}", token_file, env)
    finally:
        server.stop()
