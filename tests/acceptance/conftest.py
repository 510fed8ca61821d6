"""Acceptance stacks: inkbridge (and, where a test needs it, a CRM emulator and extra workers)
as real processes talking real HTTP, configured through a real inkbridge.toml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.acceptance.stack import SANDBOX_CRM, base_config, write_config
from tests.support.processes import INKBRIDGE, PYTHON, Process, cli, free_port, wait_http

pytestmark = pytest.mark.slow
CRM_COMMAND = [PYTHON, "-m", "inkbridge.sandbox.crm"]


def sandbox_config(
    root: Path, *, port: int, database_url: str | None = None, crm_url: str | None = None
) -> Path:
    """inkbridge.toml for the sandbox stack: the shared base and the sandbox CRM destination
    (at ``crm_url`` when the CRM runs as its own process)."""
    tree = base_config(root, port)
    if database_url:
        tree["regions"]["default"]["database_url"] = database_url
    tree["destinations"]["crm"] = SANDBOX_CRM | ({"url": crm_url} if crm_url else {})
    return write_config(root, tree)


@dataclass
class Stack:
    """One running inkbridge (serve: API + worker) and what a test needs to talk to it."""

    root: Path
    config: Path
    port: int
    token: str = ""
    processes: list[Process] = field(default_factory=list)
    server: Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start_server(self, command: str = "serve") -> Process:
        args = [*INKBRIDGE, command, "--config", str(self.config)]
        if command == "api":
            args.append("--migrate")
        self.server = Process(args, self.root / f"{command}.log").start()
        self.processes.append(self.server)
        wait_http(self.base + "/healthz", proc=self.server.proc)
        return self.server

    def start_worker(self, name: str) -> Process:
        proc = Process(
            [*INKBRIDGE, "worker", "--config", str(self.config)],
            self.root / f"{name}.log",
            env={"INKBRIDGE_LOG_LEVEL": "info"},
        ).start()
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=30.0)


def make_stack(root: Path, **config: object) -> Stack:
    port = free_port()
    path = sandbox_config(root, port=port, **config)  # type: ignore[arg-type]
    cli(["migrate", "--config", str(path)])
    token = cli(["tokens", "create", "--config", str(path), "--scope", "admin", "--name", "t"])
    return Stack(root=root, config=path, port=port, token=token.strip())


def start_crm(root: Path, name: str = "crm") -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        [*CRM_COMMAND, "--port", str(port), "--db", str(root / f"{name}.db")],
        root / f"{name}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/records", proc=proc.proc)
    return proc, url


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = make_stack(tmp_path)
    running.start_server()
    yield running
    running.stop()


def crm_writes(url: str, headers: dict[str, str] | None = None) -> list[dict[str, object]]:
    """The CRM's write log; the sandbox mounted in inkbridge needs an admin token's headers."""
    answer = httpx.get(url + "/writes", headers=headers, timeout=30.0)
    answer.raise_for_status()
    return list(answer.json()["results"])


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, default=str)[:3000]
