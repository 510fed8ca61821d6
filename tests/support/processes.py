"""Running inkbridge and the vendor emulators as real processes for acceptance tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.ports import bound_socket

PYTHON = sys.executable
INKBRIDGE = [PYTHON, "-m", "inkbridge.cli"]


def free_port() -> int:
    """A 127.0.0.1 port free now and never given out before in this run, for a process to bind."""
    with bound_socket(reuse=False) as sock:
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Stop ``proc`` with SIGTERM, killing it if it has not exited within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Process:
    """A child process with its log file; stopped gracefully or killed with SIGKILL."""

    args: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        env = {**os.environ, **self.env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(list(self.args), stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_process(self.proc, grace=10.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def cli(args: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Run one inkbridge CLI command and return its standard output."""
    done = subprocess.run(
        [*INKBRIDGE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"inkbridge {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout
